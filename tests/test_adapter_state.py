"""AdapterState on its own (no model): when checkpoints are written, what restore loads and
replays, and that a cut step is never saved. Migrate's kill/resume behaviour through it is
tested end to end in test_migrate_training.py and test_reliability.py."""

from __future__ import annotations

import pytest

from migrate_opt import MemoryDatabase, PromptSpec
from migrate_opt.errors import CheckpointError
from migrate_opt.migrate.state import AdapterState
from migrate_opt.optimizer import member_to_dict
from migrate_opt.policy.base import Updater
from migrate_opt.testing import ScriptedPolicy
from migrate_opt.values import Member


class Counting(Updater):
    """An updater whose state is the number of steps it took."""

    def __init__(self) -> None:
        self.steps = 0

    def step(self, policy, prompt, spec: PromptSpec, members):
        self.steps += 1
        return []

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = int(state["steps"])


def stored(iterations):
    db = MemoryDatabase()
    for it in iterations:
        db.add([], group=(it, [member_to_dict(Member("on_policy", f"c{it}", ()))]))
    return db


def state_of(db, updater=None, every=2):
    return AdapterState(ScriptedPolicy(["x"]), updater or Counting(), db,
                        checkpoint_every=every, checkpoint_seconds=None)


def test_checkpoints_every_k_groups_then_restore_replays_only_the_later_ones():
    db, updater = stored([0, 1, 2]), Counting()
    state = state_of(db, updater)
    for it in (0, 1):
        with state.step(it):
            updater.step(None, "p", PromptSpec(), [])
        state.save_if_due(it)
    assert db.load_checkpoint()[0] == 1 and state.saved_through == 1  # the second group
    resumed, replayed = state_of(db, Counting()), []
    resumed.restore(lambda it, members: replayed.append((it, [m.completion for m in members])))
    assert resumed.loaded and resumed.updater.steps == 2  # the checkpoint's state
    assert replayed == [(2, ["c2"])] and db.load_checkpoint()[0] == 2
    assert resumed.trained_through == 2


def test_discarding_the_checkpoint_replays_every_stored_group():
    db = stored([0, 1])
    state_of(db).save(1)
    replayed = []
    state_of(db).restore(lambda it, m: replayed.append(it), discard_checkpoint=True)
    assert replayed == [0, 1]


def test_a_cut_step_is_never_flushed():
    db = stored([0])
    state = state_of(db)
    with pytest.raises(KeyboardInterrupt), state.step(0):
        raise KeyboardInterrupt
    assert state.trained_through is None
    state.flush()
    assert db.load_checkpoint() is None


def test_a_bad_checkpoint_is_refused_before_anything_changes():
    db = stored([0])
    db.save_checkpoint(0, b"not a checkpoint")
    state = state_of(db)
    with pytest.raises(CheckpointError, match="--discard-checkpoint"):
        state.restore(lambda it, m: pytest.fail("nothing may be replayed"))
    assert not state.loaded and state.saved_through == -1
