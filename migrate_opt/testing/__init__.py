"""What a plugin author needs to test against migrate-opt: a toy task, a scripted policy,
a tiny random policy (``migrate_opt.policy.load_policy("tiny-random")``) and contract
test suites to subclass (``migrate_opt.testing.contracts``)."""

from .scripted import ScriptedPolicy
from .toy import ToyTask

__all__ = ["ScriptedPolicy", "ToyTask"]
