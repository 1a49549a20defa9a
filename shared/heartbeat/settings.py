"""The `[heartbeat]` config section, parsed and validated once into typed settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from typing import TypeVar

from shared.config import DEFAULT_HEARTBEAT_PROMPT, Config, HeartbeatConfig
from shared.heartbeat.schedule import (
    ActiveHours,
    ScheduleError,
    parse_interval,
    resolve_timezone,
)

T = TypeVar("T")

# A busy heartbeat (a run still going) is retried this soon, never a whole interval later
# (OpenClaw #29762 skipped a full 2 h interval on every busy tick).
BUSY_RETRY = timedelta(seconds=30)


@dataclass(frozen=True)
class HeartbeatSettings:
    interval: timedelta  # zero: disabled
    active_hours: ActiveHours | None  # None: always active
    zone: tzinfo  # for active hours, the daily log's date and the prompt's time line
    prompt: str
    ack_max_chars: int
    retention: timedelta

    @property
    def enabled(self) -> bool:
        return self.interval > timedelta(0)

    @property
    def busy_retry(self) -> timedelta:
        """Short, and below half an interval so a retry never lands on the next slot."""
        return min(BUSY_RETRY, max(self.interval / 2, timedelta(seconds=1)))


def load_settings(config: Config | HeartbeatConfig) -> HeartbeatSettings:
    """Validate `[heartbeat]`; raises ScheduleError (a ConfigError) naming the bad key."""
    section = config.heartbeat if isinstance(config, Config) else config
    interval = _checked("heartbeat.interval", lambda: parse_interval(section.interval))
    zone = _checked("heartbeat.timezone", lambda: resolve_timezone(section.timezone))
    hours = _checked(
        "heartbeat.active_start/active_end",
        lambda: ActiveHours.parse(section.active_start, section.active_end, zone),
    )
    if section.ack_max_chars < 0:
        raise ScheduleError("heartbeat.ack_max_chars must be 0 or more")
    if section.retention_days < 1:
        raise ScheduleError("heartbeat.retention_days must be 1 or more")
    return HeartbeatSettings(
        interval=interval,
        active_hours=hours,
        zone=zone,
        prompt=section.prompt.strip() or DEFAULT_HEARTBEAT_PROMPT,
        ack_max_chars=section.ack_max_chars,
        retention=timedelta(days=section.retention_days),
    )


def _checked(key: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except ScheduleError as exc:
        raise ScheduleError(f"{key}: {exc}") from None
