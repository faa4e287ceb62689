"""Weekly schedules written in a subset of OpenStreetMap's ``opening_hours`` syntax.

Used for zone schedules (when a restricted / after-hours zone is armed) and POI opening
hours. Accepted forms::

    24/7
    Mo-Fr 08:30-17:30; Sa 09:00-12:00
    Mo-Su 22:00-07:00          (an end before the start runs past midnight)
    Sa,Su 00:00-24:00
    22:00-07:00                (no days: every day)
    Mo-Fr 20:00-08:00; Sa,Su 00:00-24:00
    off                        (never)

Times are wall-clock times in the park's time zone; aware datetimes are converted to it,
naive datetimes are taken to be park-local already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _parse_days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"unknown day range {part!r} (days are {', '.join(DAYS)})")
            start, end = DAYS.index(first), DAYS.index(last)
            span = (end - start) % 7
            days.extend((start + offset) % 7 for offset in range(span + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r} (days are {', '.join(DAYS)})")
    return days


def _parse_times(text: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        match = _TIME_RANGE.match(part.strip())
        if match is None:
            raise ValueError(f"time range {part.strip()!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValueError(f"time range {part.strip()!r} has an hour or minute out of range")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValueError(f"time range {part.strip()!r} is empty")
        if end < start:
            end += MINUTES_PER_DAY  # runs past midnight into the next day
        ranges.append((start, end))
    return ranges


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Intervals of the week, in minutes since Monday 00:00, in time zone `timezone`."""

    text: str
    timezone: str
    intervals: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str, timezone: str = "Asia/Shanghai") -> WeeklySchedule:
        """Parse `text`; raises ValueError naming the part that is wrong."""
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {timezone!r}") from exc
        cleaned = " ".join(text.split())
        if cleaned == "24/7":
            return cls(cleaned, timezone, ((0, MINUTES_PER_WEEK),))
        if cleaned == "off":
            return cls(cleaned, timezone, ())
        if not cleaned:
            raise ValueError("schedule is empty (use '24/7' for always or 'off' for never)")
        intervals: list[tuple[int, int]] = []
        for rule in cleaned.split(";"):
            rule = rule.strip()
            if not rule:
                continue
            head, _, rest = rule.partition(" ")
            if _TIME_RANGE.match(head.split(",")[0]):
                days, times = list(range(7)), rule
            else:
                days, times = _parse_days(head), rest.strip()
            if times == "off":
                continue
            if not times:
                raise ValueError(f"rule {rule!r} has days but no times (e.g. 'Mo-Fr 08:00-18:00')")
            for day in days:
                for start, end in _parse_times(times):
                    intervals.append((day * MINUTES_PER_DAY + start, day * MINUTES_PER_DAY + end))
        return cls(cleaned, timezone, tuple(sorted(intervals)))

    @property
    def always(self) -> bool:
        """True for a schedule that covers the whole week."""
        return self.intervals == ((0, MINUTES_PER_WEEK),)

    def active_at(self, when: datetime) -> bool:
        """Whether `when` falls inside the schedule (aware: converted to the park zone; naive: park-local)."""
        if self.always:
            return True
        local = when.astimezone(ZoneInfo(self.timezone)) if when.tzinfo is not None else when
        minute = local.weekday() * MINUTES_PER_DAY + local.hour * 60 + local.minute + local.second / 60.0
        return any(start <= minute < end or start <= minute + MINUTES_PER_WEEK < end for start, end in self.intervals)
