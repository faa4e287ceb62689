"""Downsampled history of numeric sensor fields: min / max / mean / last per time bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patrol.alarms.coltypes import utc_from_clock
from patrol.sensors.tables import SensorReadingRow


@dataclass(slots=True)
class _Bucket:
    start: float
    count: int
    min: float
    max: float
    total: float
    last: float

    def add(self, value: float) -> None:
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.total += value
        self.last = value


class Downsampler:
    """Aggregates readings in memory; `flush` writes finished buckets (all of them with `everything`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bucket_s: int) -> None:
        self._sessions = sessions
        self.bucket_s = bucket_s
        self._open: dict[tuple[str, str], _Bucket] = {}
        self._done: list[tuple[str, str, _Bucket]] = []
        self.rows_written = 0

    def add(self, sensor_id: str, field: str, value: float, now: float) -> None:
        start = now - now % self.bucket_s
        key = (sensor_id, field)
        bucket = self._open.get(key)
        if bucket is not None and bucket.start != start:
            self._done.append((sensor_id, field, bucket))
            bucket = None
        if bucket is None:
            self._open[key] = _Bucket(start, 1, value, value, value, value)
        else:
            bucket.add(value)

    async def flush(self, now: float, everything: bool = False) -> int:
        """Write finished buckets (and, with `everything`, the open ones too); the rows written."""
        for key, bucket in list(self._open.items()):
            if everything or bucket.start + self.bucket_s <= now:
                self._done.append((*key, bucket))
                del self._open[key]
        done, self._done = self._done, []
        if not done:
            return 0
        try:
            await self._write(done)
        except BaseException:  # the store is away (or we are cancelled): keep the buckets for next time
            self._done = done + self._done
            raise
        self.rows_written += len(done)
        return len(done)

    async def _write(self, done: list[tuple[str, str, _Bucket]]) -> None:
        async with self._sessions.begin() as session:
            for sensor_id, field, bucket in done:
                start = utc_from_clock(bucket.start)
                row = await session.scalar(select(SensorReadingRow).where(
                    SensorReadingRow.sensor_id == sensor_id, SensorReadingRow.field == field,
                    SensorReadingRow.bucket_start == start))
                if row is None:
                    session.add(SensorReadingRow(
                        sensor_id=sensor_id, field=field, bucket_start=start, bucket_s=self.bucket_s,
                        count=bucket.count, min=bucket.min, max=bucket.max, mean=bucket.total / bucket.count,
                        last=bucket.last))
                else:  # the bucket was written before (flush at shutdown, then more readings): merge
                    total = row.mean * row.count + bucket.total
                    row.count += bucket.count
                    row.min, row.max = min(row.min, bucket.min), max(row.max, bucket.max)
                    row.mean, row.last = total / row.count, bucket.last

    async def history(self, sensor_id: str, field: str | None = None, since: datetime | None = None,
                      limit: int = 500) -> list[SensorReadingRow]:
        query = select(SensorReadingRow).where(SensorReadingRow.sensor_id == sensor_id)
        if field is not None:
            query = query.where(SensorReadingRow.field == field)
        if since is not None:
            query = query.where(SensorReadingRow.bucket_start >= since)
        query = query.order_by(SensorReadingRow.bucket_start.desc()).limit(max(1, min(limit, 5000)))
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())
