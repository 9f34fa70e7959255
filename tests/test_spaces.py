"""``SearchSpaceContract`` on the core's own spaces: the toy task's digits and a pool."""

import pytest

from migrate_opt.testing import ToyTask
from migrate_opt.testing.optimizers import PoolToyTask
from migrate_opt.testing.spaces import SearchSpaceContract


class TestDigitSpace(SearchSpaceContract):
    @pytest.fixture
    def task(self):
        return ToyTask(length=6)


class TestPoolSpace(SearchSpaceContract):
    @pytest.fixture
    def task(self):
        return PoolToyTask(length=6)
