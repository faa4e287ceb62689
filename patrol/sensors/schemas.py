"""Wire models of the sensor registry, readings history and ingest counters."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from patrol.sensors.tables import SensorReadingRow, SensorRow


class SensorPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    status: str
    origin: str
    x: float | None
    y: float | None
    zone: str | None
    model: str
    manufacturer: str
    capabilities: list[str]
    expire_after_s: float | None
    discovered_at: datetime | None
    placed_at: datetime | None
    placed_by: str | None
    last_seen: datetime | None
    available: bool | None
    battery: float | None

    @classmethod
    def of(cls, row: SensorRow) -> SensorPublic:
        return cls(id=row.id, kind=row.kind, status=row.status, origin=row.origin, x=row.x, y=row.y,
                   zone=row.zone, model=row.model, manufacturer=row.manufacturer,
                   capabilities=list(row.capabilities or []), expire_after_s=row.expire_after_s,
                   discovered_at=row.discovered_at, placed_at=row.placed_at, placed_by=row.placed_by,
                   last_seen=row.last_seen, available=row.available, battery=row.battery)


class SensorPlace(BaseModel):
    """Put a pending (or placed) sensor at a map position; the zone is found from the position if omitted."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)
    kind: str | None = Field(default=None, pattern=r"^(door|pir|fence|smoke|water|tamper)$")
    zone: str | None = Field(default=None, max_length=64)


class ReadingPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    bucket_start: datetime
    bucket_s: int
    count: int
    min: float
    max: float
    mean: float
    last: float

    @classmethod
    def of(cls, row: SensorReadingRow) -> ReadingPublic:
        return cls(field=row.field, bucket_start=row.bucket_start, bucket_s=row.bucket_s, count=row.count,
                   min=row.min, max=row.max, mean=row.mean, last=row.last)
