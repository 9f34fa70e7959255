"""The adaptive mix and carried-over adapters inside a real Migrate run (tiny policy)."""

import pytest

torch = pytest.importorskip("torch")

from migrate_opt import (  # noqa: E402
    SQLiteDatabase,
    create,
    load_policy,  # noqa: E402
    run,
)
from migrate_opt.errors import ConfigError  # noqa: E402
from migrate_opt.grpo import GRPOConfig  # noqa: E402
from migrate_opt.policy.hf import LoRAConfig  # noqa: E402
from migrate_opt.samplers.adaptive_mix import SLOT_TAG, AdaptiveMixConfig  # noqa: E402
from migrate_opt.testing.toy import DigitShareTask  # noqa: E402

GRPO = GRPOConfig(learning_rate=5e-2, steps_per_group=1)
GROUP = {"on_policy": 3, "greedy": 1, "neighborhood": 3}


def make(db, lora=LoRAConfig(rank=4, alpha=8), **options):
    policy = load_policy("tiny-random", seed=0, lora=lora)
    return create("optimizer", "migrate", DigitShareTask(), policy=policy, group=GROUP,
                  grpo=GRPO, database=db, seed=1, **options)


def test_adaptive_mix_tags_slots_and_resumes_to_the_same_allocation(tmp_path):
    path = str(tmp_path / "mix.db")
    opt = make(SQLiteDatabase(path), adaptive_mix=AdaptiveMixConfig(floor=1))
    run(opt, iterations=4, progress=False)
    groups = opt.database.groups()
    for _, members in groups:
        slots = [m["tags"].get(SLOT_TAG) for m in members if m["prompt"] is not None]
        # Untagged: the on-policy top-up of a replay slot the database could not fill yet.
        assert slots.count(None) == 1 - sum(m["source"] == "greedy" for m in members)
        assert {s for s in slots if s} <= {"on_policy", "neighborhood"}
        assert sum(1 for m in members if m["source"] == "greedy") <= 1  # fixed: never moved
    expected = opt.composition()
    opt.database.close()
    resumed = make(SQLiteDatabase(path), adaptive_mix=AdaptiveMixConfig(floor=1))
    assert resumed.composition() == expected
    assert sum(expected.values()) == 7 and expected["greedy"] == 1


def test_an_adaptive_mix_with_one_adapted_sampler_is_refused(tmp_path):
    policy = load_policy("tiny-random", seed=0)
    with pytest.raises(ConfigError, match="two or more samplers"):
        create("optimizer", "grpo-greedy", DigitShareTask(), policy=policy,
               adaptive_mix=AdaptiveMixConfig())


def test_an_adapter_carries_over_to_another_study(tmp_path):
    source = str(tmp_path / "source.db")
    trained = make(SQLiteDatabase(source, "a"))
    run(trained, iterations=2, progress=False)
    state = trained.policy.state_dict()
    trained.database.close()

    fresh = make(SQLiteDatabase(str(tmp_path / "new.db")), init_adapter=f"{source}:a")
    assert any(not torch.equal(v, state[k]) for k, v in fresh.policy.state_dict().items())
    fresh.restore()
    assert all(torch.equal(v, state[k]) for k, v in fresh.policy.state_dict().items())
    assert fresh.settings()["config"]["init_adapter"] == f"{source}:a"


def test_a_carried_adapter_of_another_shape_is_refused(tmp_path):
    source = str(tmp_path / "source.db")
    trained = make(SQLiteDatabase(source, "a"))
    run(trained, iterations=1, progress=False)
    trained.database.close()
    other = make(SQLiteDatabase(str(tmp_path / "new.db")), lora=LoRAConfig(rank=8, alpha=8),
                 init_adapter=source)
    with pytest.raises(ConfigError, match="another LoRA shape"):
        other.restore()


def test_a_source_without_a_checkpoint_is_refused(tmp_path):
    source = str(tmp_path / "source.db")
    policy = load_policy("tiny-random", seed=0)
    sample = create("optimizer", "sample", DigitShareTask(), policy=policy,
                    database=SQLiteDatabase(source, "s"))
    run(sample, iterations=1, progress=False)
    sample.database.close()
    with pytest.raises(ConfigError, match="no adapter checkpoint"):
        make(SQLiteDatabase(str(tmp_path / "new.db")), init_adapter=f"{source}:s").restore()


def test_the_report_shows_where_the_slots_went(tmp_path):
    from migrate_opt.report.html import render_report
    from migrate_opt.report.mix import slot_counts

    path = str(tmp_path / "mix.db")
    opt = make(SQLiteDatabase(path), adaptive_mix=AdaptiveMixConfig(floor=1))
    run(opt, iterations=3, progress=False)
    counts = slot_counts(opt.database.groups())
    per_iteration = [sum(v for pts in counts.values() for it, v in pts if it == i)
                     for i in range(3)]
    assert per_iteration == [7.0, 7.0, 7.0]  # every member counted once, under its slot
    assert set(counts) <= {"on_policy", "neighborhood", "greedy"}
    assert "Adaptive group mix" in render_report(opt.database)
