"""Databases of evaluated records: in-memory and SQLite, and which one a study file uses."""

from .base import Database
from .locate import locate, open_database, pick_study, studies_in
from .memory import MemoryDatabase
from .sqlite import SQLiteDatabase, list_studies

__all__ = [
    "Database", "MemoryDatabase", "SQLiteDatabase", "list_studies", "locate", "open_database",
    "pick_study", "studies_in",
]
