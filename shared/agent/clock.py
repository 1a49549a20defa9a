"""The user's clock: dates for the daily log and the prompt follow the configured time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.config import Config, ConfigError


def user_zone(config: Config) -> ZoneInfo | None:
    """The configured IANA zone, or None for the host's local zone."""
    name = config.agent.timezone.strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"agent.timezone {name!r} is not a known IANA time zone (e.g. 'Europe/Paris')"
        ) from None


def user_now(config: Config) -> datetime:
    """Now, as an aware datetime in the user's zone."""
    zone = user_zone(config)
    return datetime.now(zone) if zone else datetime.now().astimezone()


def zone_label(now: datetime, config: Config) -> str:
    """A readable zone name: the IANA name when configured, else the host's abbreviation."""
    return config.agent.timezone.strip() or now.tzname() or "local"
