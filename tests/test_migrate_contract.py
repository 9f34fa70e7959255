"""``OptimizerContract`` on ``Migrate``, the flagship: with a scripted policy (random
guesses, no model) under the presets that do not train, and with the tiny random model
under GRPO (it trains after every group, checkpoints, and resumes from the study)."""

from __future__ import annotations

import random

import pytest

from migrate_opt import create
from migrate_opt.testing import ScriptedPolicy
from migrate_opt.testing.optimizers import OptimizerContract
from migrate_opt.testing.toy import DigitShareTask


def guess(prompt: str, rng: random.Random) -> str:
    """Six random digits, sometimes none (a completion that parses to nothing)."""
    return f'["{rng.randrange(10**6):06d}"]' if rng.random() > 0.1 else "no idea"


@pytest.mark.parametrize("method", ["sample", "migrate"])
class TestScripted(OptimizerContract):
    needs_search_space = False

    @pytest.fixture
    def make(self, method):
        return lambda task, **kw: create("optimizer", method, task, group_size=8, train=False,
                                         policy=ScriptedPolicy(fn=guess), **kw)


class TestTinyGRPO(OptimizerContract):
    needs_search_space = False
    budget = 16  # two groups: every run trains, checkpoints and (resumed) restores
    improve_budget = 48

    @pytest.fixture
    def make(self):
        pytest.importorskip("torch")
        from migrate_opt import load_policy
        from migrate_opt.grpo import GRPOConfig

        fast = GRPOConfig(learning_rate=5e-2, steps_per_group=1, advantage="std")
        return lambda task, **kw: create("optimizer", "grpo", task, group_size=8, grpo=fast,
                                         policy=load_policy("tiny-random", seed=0), **kw)

    @pytest.fixture
    def task(self):
        return DigitShareTask()
