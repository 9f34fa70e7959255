import pytest

from migrate_opt import ConfigError, ProcessExecutor, SerialExecutor
from migrate_opt.testing.executors import ExecutorContract


class TestSerial(ExecutorContract):
    isolates = False

    @pytest.fixture
    def executor(self):
        return SerialExecutor()


class TestProcessPool(ExecutorContract):
    parallel = 2
    crash_reason = "crashed"

    @pytest.fixture(scope="class")
    def executor(self):
        with ProcessExecutor(workers=2, timeout=2.0) as ex:
            yield ex

    @pytest.fixture(scope="class")
    def patient_executor(self):
        with ProcessExecutor(workers=2, timeout=60.0) as ex:
            yield ex


def test_bad_config():
    with pytest.raises(ConfigError):
        ProcessExecutor(workers=0)
    with pytest.raises(ConfigError):
        ProcessExecutor(timeout=0)
