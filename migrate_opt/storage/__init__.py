"""Databases of evaluated records: in-memory and SQLite. Which one a study file uses is
resolved by name in ``migrate_opt.factory`` (``open_database``)."""

from .base import Database
from .memory import MemoryDatabase
from .sqlite import SQLiteDatabase, list_studies

__all__ = ["Database", "MemoryDatabase", "SQLiteDatabase", "list_studies"]
