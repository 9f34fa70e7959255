"""The plugin's hooks: registers the molecule tasks with migrate-opt."""

from __future__ import annotations

from migrate_opt import hookimpl


@hookimpl
def register_tasks(register) -> None:  # type: ignore[no-untyped-def]
    from .docking.task import DockstringTask
    from .objectives import FAST_TASKS

    register("dockstring", DockstringTask,
             description="DOCKSTRING docking (--target ABL1; --objective paper, F2, "
                         "promiscuous_PPAR, selective_JAK2)")
    for name, (factory, description) in FAST_TASKS.items():
        register(name, factory, description=description)
