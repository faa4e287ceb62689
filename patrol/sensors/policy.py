"""Ingest policy: debounce per sensor field, offline expiry, battery thresholds, history buckets."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DEBOUNCE_S = {"contact": 2.0, "occupancy": 10.0, "vibration": 10.0, "tamper": 5.0, "smoke": 0.0,
                      "water_leak": 0.0}


class SensorPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # a trip of the same sensor field within this many seconds of the previous one is dropped (counted)
    debounce_s: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_DEBOUNCE_S))
    # a placed sensor silent for this long is offline (a discovery config's expire_after overrides it)
    expire_after_s: float = Field(default=3600.0, gt=0)
    low_battery_pct: float = Field(default=15.0, ge=0, le=100)
    battery_recovered_pct: float = Field(default=20.0, ge=0, le=100)
    reading_bucket_s: int = Field(default=300, ge=1)
    tick_s: float = Field(default=10.0, gt=0)
    # vision republishes each camera's status every 10 s while it watches it; a camera that was online
    # and whose status has been silent this long has nobody watching it (its vision worker died or hung,
    # or a retained `online` outlived its worker) and is raised as camera offline
    camera_status_stale_s: float = Field(default=60.0, gt=0)
