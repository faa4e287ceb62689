"""The sensors tests use the alarms tests' fixtures: a fresh database with the tables, and the harness."""

from __future__ import annotations

from tests.alarms.conftest import database, harness

__all__ = ["database", "harness"]
