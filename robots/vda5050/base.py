"""Shared pieces of every VDA 5050 message: the pydantic base, the header, timestamps, versions.

Wire form (VDA 5050 2.x): camelCase keys, optional fields left out when unset, timestamps in
ISO 8601 UTC with a trailing `Z` (`2026-11-28T03:30:03.120Z`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Self

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

#: The protocol versions this package speaks, newest first. Robots reporting 2.0.x get answered in 2.0.0.
SUPPORTED_VERSIONS: tuple[str, ...] = ("2.1.0", "2.0.0")
DEFAULT_VERSION = "2.1.0"
MAJOR_TOPIC_VERSION = "v2"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class UnsupportedVersionError(ValueError):
    """A message reports a protocol version outside 2.0.x / 2.1.x."""


def parse_version(version: str) -> tuple[int, int, int]:
    """`"2.1.0"` -> `(2, 1, 0)`; raises `UnsupportedVersionError` for anything that is not X.Y.Z."""
    m = _VERSION_RE.match(version)
    if m is None:
        raise UnsupportedVersionError(f"version {version!r} is not [Major].[Minor].[Patch]")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@lru_cache(maxsize=64)  # asked for every state message the service ingests
def is_supported_version(version: str) -> bool:
    try:
        major, minor, _ = parse_version(version)
    except UnsupportedVersionError:
        return False
    return major == 2 and minor in (0, 1)


def answer_version(reported: str | None) -> str:
    """The version to address a robot in, given the version its own messages report.

    2.0.x robots get `2.0.0` messages (without 2.1-only fields), 2.1.x robots get `2.1.0`; an unknown
    robot (None) gets the default. Raises `UnsupportedVersionError` for any other version.
    """
    if reported is None:
        return DEFAULT_VERSION
    if not is_supported_version(reported):
        raise UnsupportedVersionError(
            f"robot reports VDA 5050 version {reported!r}; supported are 2.0.x and 2.1.x"
        )
    return "2.0.0" if parse_version(reported)[1] == 0 else "2.1.0"


def utc_now_from(seconds: float) -> datetime:
    """A timezone-aware UTC datetime from epoch seconds (what `Clock.now()` returns)."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as the spec's examples show."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted (ValueError if that leaves years 1-9999)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00; as ValueError pydantic reports it on the field
        raise ValueError(f"{value.isoformat()} is outside years 1-9999 in UTC") from None


Timestamp = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="always"),
]


class VdaModel(BaseModel):
    """Base of all VDA 5050 wire models: camelCase aliases, unknown keys tolerated, frozen values."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict exactly as sent on the wire (None fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        """The message payload (UTF-8 JSON bytes)."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, payload: bytes | str) -> Self:
        """Parse and validate a payload strictly (JSON types as the schema says: no "yes" for a boolean);
        raises `pydantic.ValidationError`, also for malformed JSON."""
        return cls.model_validate_json(payload, strict=True)


class Header(VdaModel):
    """Fields every message begins with."""

    header_id: int
    timestamp: Timestamp
    version: str
    manufacturer: str
    serial_number: str


