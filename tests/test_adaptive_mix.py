"""The adaptive mix: allocation by hand, hits counted from stored groups, and a mix that
moves its slots to a scripted sampler that always improves."""

import pytest

from migrate_opt import Record
from migrate_opt.errors import ConfigError
from migrate_opt.samplers.adaptive_mix import (
    AdaptiveMixConfig,
    adaptive_composition,
    allocate,
    hits_and_trials,
)


def test_allocate_by_hand():
    # 6 spare slots: shares 4.5 and 1.5; the one left over goes to the first on a tie.
    assert allocate(8, {"a": 0.75, "b": 0.25}, floor=1) == {"a": 6, "b": 2}
    assert allocate(4, {"a": 0.0, "b": 0.0}, floor=1) == {"a": 2, "b": 2}
    assert allocate(3, {"a": 1.0, "b": 0.0, "c": 0.0}, floor=1) == {"a": 1, "b": 1, "c": 1}


def test_a_floor_the_group_cannot_hold_is_refused():
    with pytest.raises(ConfigError, match="lower the floor"):
        allocate(3, {"a": 1, "b": 1}, floor=2)


def member(source, reward, prompt="p", repeat=False):
    return {"source": source, "reward": reward, "prompt": prompt, "repeat": repeat}


def test_hits_count_only_new_members_that_enter_the_top_k():
    records = [Record(f"w{i}", i / 10, iteration=-1) for i in range(1, 6)]  # 0.1 .. 0.5
    groups = [(0, [
        member("on_policy", 0.9),                 # hit: above the best (top_k = 1)
        member("on_policy", 0.05),                # miss
        member("neighborhood", 0.6),              # hit
        member("neighborhood", 0.95, repeat=True),  # a repeat is not a find
        member("neighborhood", None),             # invalid
        member("greedy", 0.5, prompt=None),       # replays are not adapted
    ])]
    config = AdaptiveMixConfig(top_k=1)
    tally = hits_and_trials(groups, records, ["on_policy", "neighborhood"], config)
    assert tally == {"on_policy": (1, 2), "neighborhood": (1, 3)}


def test_the_mix_moves_to_a_sampler_that_always_improves():
    # Five warm-start records fill the top-5, so "bad"'s zeros never enter it.
    records = [Record(f"w{i}", 0.0, iteration=-1) for i in range(5)]
    groups, best = [], 0.0
    allocations = []
    for it in range(12):
        comp = adaptive_composition(8, ["good", "bad"], groups, records)
        allocations.append(comp)
        members = []
        for _ in range(comp["good"]):
            best += 0.1
            members.append(member("good", best))
            records.append(Record(f"g{it}-{best:.1f}", best, iteration=it))
        members += [member("bad", 0.0) for _ in range(comp["bad"])]
        groups.append((it, members))
    assert allocations[0] == {"good": 4, "bad": 4}
    assert allocations[-1] == {"good": 7, "bad": 1}  # the floor keeps one slot for "bad"
    assert [a["good"] for a in allocations] == sorted(a["good"] for a in allocations)
    # Recomputed for a past iteration from storage alone: what a resumed run would do.
    assert adaptive_composition(8, ["good", "bad"], groups, records, before=5) == allocations[5]


@pytest.mark.parametrize("bad", [{"floor": -1}, {"top_k": 0}, {"window": 0}, {"floor": 1.5}])
def test_bad_config_is_refused(bad):
    with pytest.raises(ConfigError, match="adaptive mix"):
        AdaptiveMixConfig(**bad)
