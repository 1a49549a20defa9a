"""When the heartbeat may fire: interval parsing, the fixed-period grid and active hours.

All instants are timezone-aware datetimes; the caller passes `now`, so nothing here reads a clock.
Active hours are wall-clock times in the configured zone (never UTC, OpenClaw #75487), evaluated
through zoneinfo so DST change days behave like the clock on the user's wall.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.config import ConfigError

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([dhms])")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60


class ScheduleError(ConfigError):
    """An interval, time of day or time zone that cannot be used; the message says which."""


def parse_interval(text: str) -> timedelta:
    """`30m`, `1h30m`, `45s`, `2d`; a bare number is minutes (as OpenClaw); `0` disables."""
    raw = text.strip().lower()
    if raw.isdigit():
        return timedelta(minutes=int(raw))
    compact = raw.replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ScheduleError(f"interval {text!r} is not like 30m, 1h30m, 45s or 0")
    units = [u for _, u in parts]
    if len(set(units)) != len(units):
        raise ScheduleError(f"interval {text!r} repeats a unit")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


def format_interval(delta: timedelta) -> str:
    """The compact form of an interval, e.g. 5400 s -> `1h30m` (for status and reasons)."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0"
    out = ""
    for unit, size in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, size)
        if count:
            out += f"{count}{unit}"
    return out


def next_slot_after(slot: datetime, interval: timedelta, now: datetime) -> datetime:
    """The first grid slot `slot + k*interval` (k >= 1) strictly after `now`.

    Anchoring on the slot, not on when a run finished, means a slow run never pushes the
    schedule, and after a long downtime the missed slots collapse into one run.
    """
    if now < slot:
        return slot + interval
    steps = (now - slot) // interval + 1
    return slot + steps * interval


def local_zone() -> tzinfo:
    """This machine's zone as a zoneinfo zone (so DST rules apply), from $TZ or /etc/localtime."""
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    link = Path("/etc/localtime")
    if link.is_symlink():
        target = str(link.resolve())
        if "zoneinfo/" in target:
            try:
                return ZoneInfo(target.split("zoneinfo/", 1)[1])
            except (ZoneInfoNotFoundError, ValueError):
                pass
    if link.is_file():
        with open(link, "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    return datetime.now().astimezone().tzinfo or UTC


def resolve_timezone(name: str) -> tzinfo:
    """An IANA zone; empty, `local` or `user` mean this machine's zone."""
    cleaned = name.strip()
    if cleaned.lower() in ("", "local", "user"):
        return local_zone()
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"time zone {name!r} is not a known IANA name") from None


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def parse_time_of_day(text: str, *, allow_24: bool) -> int:
    """`HH:MM` as minutes after midnight; `24:00` only where allowed (an exclusive end)."""
    match = _HHMM.match(text.strip())
    if not match:
        raise ScheduleError(f"time {text!r} is not HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    if allow_24 and (hours, minutes) == (24, 0):
        return DAY_MINUTES
    if hours > 23 or minutes > 59:
        raise ScheduleError(f"time {text!r} is out of range (00:00-23:59)")
    return hours * 60 + minutes


@dataclass(frozen=True)
class ActiveHours:
    """A daily wall-clock window [start, end) in `zone`; end < start spans midnight."""

    start: int  # minutes after local midnight, inclusive
    end: int  # minutes after local midnight, exclusive; 1440 is 24:00
    zone: tzinfo

    @classmethod
    def parse(cls, start: str, end: str, zone: tzinfo) -> ActiveHours | None:
        """None (always active) when both are empty; one without the other is an error."""
        if not start.strip() and not end.strip():
            return None
        if not start.strip() or not end.strip():
            raise ScheduleError("active hours need both a start and an end (HH:MM)")
        return cls(
            parse_time_of_day(start, allow_24=False), parse_time_of_day(end, allow_24=True), zone
        )

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        if self.start == self.end:
            return False  # a zero-width window: always quiet, as OpenClaw
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def next_open(self, now: datetime) -> datetime | None:
        """`now` if open, else the first instant the window opens; None if it never does.

        Stepping through whole UTC minutes (local minutes line up with them in every zone in
        use) is obviously right on DST days, where a start time can be skipped or repeated.
        """
        if self.is_open(now):
            return now
        if self.start == self.end:
            return None
        minute = now.astimezone(UTC).replace(second=0, microsecond=0) + MINUTE
        for _ in range(3 * DAY_MINUTES):
            if self.is_open(minute):
                return minute
            minute += MINUTE
        return None

    def describe(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)} {zone_name(self.zone)}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
