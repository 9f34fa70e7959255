"""Warm start: score some random common words before the search, as the paper's runs do
(20 guesses), so the first group already has parents. They count in the budget.

The mechanism lives in the core (``migrate_opt.warm_start``, which ``migrate_opt.run``
applies on an empty database); this name stays for scripts that call it themselves."""

from __future__ import annotations

from migrate_opt import warm_start

SOURCE = "warm_start"

__all__ = ["SOURCE", "warm_start"]
