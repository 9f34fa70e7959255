"""Databases of evaluated records: in-memory and SQLite."""

from .base import Database
from .memory import MemoryDatabase
from .sqlite import SQLiteDatabase, list_studies, pick_study

__all__ = ["Database", "MemoryDatabase", "SQLiteDatabase", "list_studies", "pick_study"]
