"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zone type: a ``DateTime(timezone=True)`` column comes back naive. `UTCDateTime`
stores UTC and always returns aware UTC datetimes, so comparisons never mix naive and aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive input and returns aware UTC values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_from_clock(seconds: float) -> datetime:
    """An aware UTC datetime for a clock reading (seconds since the epoch)."""
    return datetime.fromtimestamp(seconds, UTC)
