"""The adapter's life beside the stored records: a checkpoint every few groups (and when a
run ends), restore (the latest checkpoint, then the GRPO steps of the groups stored after
it), and a start from another study's adapter. :class:`~.optimizer.Migrate` asks, tells and
trains; this keeps what its training leaves in memory recoverable.

Between checkpoints the stored groups are the truth: a resume replays their steps, so a
resumed run equals an uninterrupted one whatever the interval. Checkpoints are safetensors
plus JSON (:mod:`migrate_opt.storage.checkpoint`) and never execute code."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from ..errors import CheckpointError, ConfigError
from ..optimizer import member_from_dict
from ..policy.base import Policy, Updater
from ..storage import Database
from ..values import Member

log = logging.getLogger(__name__)

Train = Callable[[int, list[Member]], None]
"""Takes the GRPO step of one stored group: ``train(iteration, members)``."""


class AdapterState:
    """Saves, loads and rebuilds ``policy``'s adapter and ``updater``'s state in
    ``database``. ``checkpoint_every`` groups or ``checkpoint_seconds`` between checkpoints
    (None: not by that measure); ``init_from`` (``FILE[:STUDY]``) starts a study that has no
    checkpoint from another study's adapter."""

    def __init__(
        self,
        policy: Policy,
        updater: Updater,
        database: Database,
        *,
        checkpoint_every: int | None,
        checkpoint_seconds: float | None,
        init_from: str | None = None,
    ) -> None:
        self.policy = policy
        self.updater = updater
        self.database = database
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.source = init_from
        self.trained_through: int | None = -1
        """The last iteration whose update the adapter in memory holds; None mid-step."""
        self.saved_through = -1
        """The iteration of the stored checkpoint; -1: none."""
        self.loaded = False
        """Whether :meth:`restore` got past loading the checkpoint (or discarding it)."""
        self._saved_at = time.monotonic()

    @contextlib.contextmanager
    def step(self, iteration: int) -> Iterator[None]:
        """Around the GRPO step of ``iteration``: until it ends, the adapter in memory
        matches no iteration, so a cut step is never checkpointed."""
        self.trained_through = None
        yield
        self.trained_through = iteration

    def save_if_due(self, iteration: int) -> None:
        """Save once ``checkpoint_every`` groups or ``checkpoint_seconds`` passed since the
        last checkpoint."""
        every, seconds = self.checkpoint_every, self.checkpoint_seconds
        if (every is not None and iteration - self.saved_through >= every) or (
                seconds is not None and time.monotonic() - self._saved_at >= seconds):
            self.save(iteration)

    def save(self, iteration: int) -> None:
        """Adapter and optimizer state after ``iteration`` (replaces the previous one)."""
        from ..storage.checkpoint import encode

        blob = encode(self.policy.state_dict(), self.updater.state_dict())
        self.database.save_checkpoint(iteration, blob)
        self.saved_through, self._saved_at = iteration, time.monotonic()

    def flush(self) -> None:
        """Save now if groups were trained since the last checkpoint; nothing while a step
        was cut mid-way."""
        done = self.trained_through
        if done is not None and done > self.saved_through:
            self.save(done)

    def restore(self, train: Train, *, discard_checkpoint: bool = False) -> None:
        """Load the latest checkpoint, then ``train`` on the groups stored after it (an
        update may have been cut by a crash); their records are never re-evaluated.
        ``discard_checkpoint`` ignores the checkpoint and retrains from the stored groups.
        A checkpoint that cannot be loaded safely raises :class:`CheckpointError` before
        anything is changed."""
        done = -1 if discard_checkpoint else self._load()
        self.loaded = True
        self.saved_through, self._saved_at = done, time.monotonic()
        groups = self.database.groups()
        if done == -1 and self.source:
            self.init_from(self.source)
        self.trained_through = done
        replayed = [(it, members) for it, members in groups if it > done]
        if replayed:
            log.info("replaying the updates of %d group(s) stored after the checkpoint",
                     len(replayed))
        for iteration, members in replayed:
            with self.step(iteration):
                train(iteration, [member_from_dict(m) for m in members])
        if replayed:
            self.save(replayed[-1][0])

    def init_from(self, source: str) -> None:
        """Start from another study's adapter; a retrain from stored groups starts there too,
        so a resumed run without a checkpoint rebuilds the same adapter."""
        from .transfer import check_compatible, load_source_adapter

        adapter, settings = load_source_adapter(source)
        check_compatible(source, settings, adapter, self.policy.describe(),
                         self.policy.state_dict())
        self.policy.load_state_dict(adapter)
        log.info("adapter initialised from %s", source)

    def _load(self) -> int:
        """The iteration of the loaded checkpoint, or -1 when there is none."""
        checkpoint = self.database.load_checkpoint()
        if checkpoint is None:
            return -1
        from ..storage.checkpoint import decode

        done, blob = checkpoint
        try:
            policy_state, updater_state = decode(blob)
            self.policy.load_state_dict(policy_state)
            self.updater.load_state_dict(updater_state)
        except (CheckpointError, ConfigError, ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"study {self.database.study!r}: {exc}; nothing was changed. Resume with "
                "--discard-checkpoint (Python: restore(discard_checkpoint=True)) to retrain "
                "the adapter from the stored records"
            ) from None
        return done
