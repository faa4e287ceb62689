"""Sensor registry (placed and pending devices) and the downsampled history of their readings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patrol.alarms.coltypes import UTCDateTime
from patrol.store.base import Base


class SensorRow(Base):
    """A device: `status` 'placed' (on the map, raises alarms) or 'pending' (discovered, not yet placed)."""

    __tablename__ = "sensors"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # Zigbee2MQTT friendly name
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)  # map | discovery | api
    x: Mapped[float | None] = mapped_column(Float, nullable=True)
    y: Mapped[float | None] = mapped_column(Float, nullable=True)
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    manufacturer: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    capabilities: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    expire_after_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    discovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    placed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    available: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    battery: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_state: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class SensorReadingRow(Base):
    """Aggregate of one numeric field of one sensor over one time bucket."""

    __tablename__ = "sensor_readings"
    __table_args__ = (UniqueConstraint("sensor_id", "field", "bucket_start", name="uq_sensor_readings_bucket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sensor_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    field: Mapped[str] = mapped_column(String(32), nullable=False)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    bucket_s: Mapped[int] = mapped_column(Integer, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    min: Mapped[float] = mapped_column(Float, nullable=False)
    max: Mapped[float] = mapped_column(Float, nullable=False)
    mean: Mapped[float] = mapped_column(Float, nullable=False)
    last: Mapped[float] = mapped_column(Float, nullable=False)
