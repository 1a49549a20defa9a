"""Heartbeat schedule: intervals, the fixed-period grid, active hours (midnight, 24:00, DST)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.config import HeartbeatConfig
from shared.heartbeat.schedule import (
    ActiveHours,
    ScheduleError,
    format_interval,
    local_zone,
    next_slot_after,
    parse_interval,
    resolve_timezone,
)
from shared.heartbeat.settings import load_settings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(start: str, end: str, zone=BERLIN) -> ActiveHours:
    hours = ActiveHours.parse(start, end, zone)
    assert hours is not None
    return hours


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2d", timedelta(days=2)),
        ("1h 30m", timedelta(minutes=90)),
        ("15", timedelta(minutes=15)),  # a bare number is minutes, as OpenClaw
        ("0", timedelta(0)),
        ("0m", timedelta(0)),
        ("2H", timedelta(hours=2)),
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "30x", "1h1h", "-5m", "1.5h", "m30", "30m!"])
def test_parse_interval_rejects(text):
    with pytest.raises(ScheduleError):
        parse_interval(text)


@pytest.mark.parametrize("text", ["30m", "1h30m", "45s", "2d", "1d2h3m4s"])
def test_format_interval_round_trips(text):
    assert format_interval(parse_interval(text)) == text


def test_grid_follows_the_slot_not_the_tick():
    slot, every = utc(2026, 6, 1, 10, 0), timedelta(minutes=30)
    assert next_slot_after(slot, every, slot) == utc(2026, 6, 1, 10, 30)
    # a late tick (slow loop, slow previous run) does not shift the grid
    assert next_slot_after(slot, every, utc(2026, 6, 1, 10, 7)) == utc(2026, 6, 1, 10, 30)
    assert next_slot_after(slot, every, utc(2026, 6, 1, 10, 29, 59)) == utc(2026, 6, 1, 10, 30)
    assert next_slot_after(slot, every, utc(2026, 6, 1, 10, 30)) == utc(2026, 6, 1, 11, 0)


def test_grid_after_long_downtime_skips_missed_slots():
    slot, every = utc(2026, 6, 1, 10, 0), timedelta(minutes=30)
    now = slot + timedelta(days=5, minutes=7)
    assert next_slot_after(slot, every, now) == slot + timedelta(days=5, minutes=30)


def test_active_hours_parse():
    assert ActiveHours.parse("", "", BERLIN) is None
    assert window("9:05", "24:00").start == 9 * 60 + 5
    assert window("09:00", "24:00").end == 24 * 60
    for start, end in [("09:00", ""), ("", "17:00"), ("24:00", "10:00"), ("25:00", "26:00")]:
        with pytest.raises(ScheduleError):
            ActiveHours.parse(start, end, BERLIN)
    for bad in ["9", "09:60", "9am", "09:00:00"]:
        with pytest.raises(ScheduleError):
            ActiveHours.parse(bad, "17:00", BERLIN)


def test_window_is_local_time_not_utc():
    hours = window("09:00", "17:00")
    # 07:30 UTC is 09:30 in Berlin (CEST): open, though 07:30 is outside 09-17 in UTC
    assert hours.is_open(utc(2026, 7, 1, 7, 30))
    assert not hours.is_open(utc(2026, 7, 1, 15, 30))  # 17:30 CEST


def test_window_edges_start_inclusive_end_exclusive():
    hours = window("09:00", "17:00", ZoneInfo("UTC"))
    assert not hours.is_open(utc(2026, 1, 5, 8, 59, 59))
    assert hours.is_open(utc(2026, 1, 5, 9, 0))
    assert hours.is_open(utc(2026, 1, 5, 16, 59, 59))
    assert not hours.is_open(utc(2026, 1, 5, 17, 0))


def test_window_across_midnight():
    hours = window("22:00", "06:00", ZoneInfo("UTC"))
    assert hours.is_open(utc(2026, 1, 5, 22, 0))
    assert hours.is_open(utc(2026, 1, 5, 23, 30))
    assert hours.is_open(utc(2026, 1, 6, 0, 0))
    assert hours.is_open(utc(2026, 1, 6, 5, 59, 59))
    assert not hours.is_open(utc(2026, 1, 6, 6, 0))
    assert not hours.is_open(utc(2026, 1, 5, 21, 59, 59))
    assert hours.next_open(utc(2026, 1, 6, 6, 0)) == utc(2026, 1, 6, 22, 0)


def test_window_until_24_00():
    hours = window("18:00", "24:00", ZoneInfo("UTC"))
    assert hours.is_open(utc(2026, 1, 5, 18, 0))
    assert hours.is_open(utc(2026, 1, 5, 23, 59, 59))
    assert not hours.is_open(utc(2026, 1, 6, 0, 0))
    assert window("00:00", "24:00").is_open(utc(2026, 3, 29, 1, 30))


def test_zero_width_window_never_opens():
    hours = window("08:00", "08:00")
    assert not hours.is_open(utc(2026, 1, 5, 7, 0))  # 08:00 Berlin
    assert hours.next_open(utc(2026, 1, 5, 7, 0)) is None


def test_next_open_is_now_when_open():
    hours = window("09:00", "17:00")
    now = utc(2026, 7, 1, 10, 0, 0)
    assert hours.next_open(now) == now


def test_berlin_spring_forward_day():
    # 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC); local 02:00-02:59 does not exist.
    hours = window("02:30", "03:30")
    assert not hours.is_open(utc(2026, 3, 29, 0, 59))  # 01:59 CET
    assert hours.is_open(utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert not hours.is_open(utc(2026, 3, 29, 1, 30))  # 03:30 CEST
    # opens at the end of the gap, not at the non-existent 02:30 read as 03:30
    assert hours.next_open(utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 0)
    office = window("09:00", "17:00")
    assert office.next_open(utc(2026, 3, 28, 20, 0)) == utc(2026, 3, 29, 7, 0)
    assert not office.is_open(utc(2026, 3, 29, 15, 0))  # 17:00 CEST
    assert office.is_open(utc(2026, 3, 29, 14, 59))


def test_berlin_fall_back_day():
    # 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC); local 02:00-02:59 happens twice.
    hours = window("02:00", "03:00")
    assert not hours.is_open(utc(2026, 10, 24, 23, 59))  # 01:59 CEST
    assert hours.is_open(utc(2026, 10, 25, 0, 30))  # first 02:30 (CEST)
    assert hours.is_open(utc(2026, 10, 25, 1, 30))  # second 02:30 (CET)
    assert not hours.is_open(utc(2026, 10, 25, 2, 0))  # 03:00 CET
    office = window("09:00", "17:00")
    assert office.next_open(utc(2026, 10, 24, 20, 0)) == utc(2026, 10, 25, 8, 0)
    assert office.is_open(utc(2026, 10, 25, 15, 59))
    assert not office.is_open(utc(2026, 10, 25, 16, 0))  # 17:00 CET


def test_new_york_overnight_window_on_dst_days():
    hours = window("22:00", "06:00", NEW_YORK)
    # 2026-03-08: 02:00 EST -> 03:00 EDT. The night opens 22:00 EST, closes 06:00 EDT.
    assert hours.next_open(utc(2026, 3, 7, 12, 0)) == utc(2026, 3, 8, 3, 0)
    assert hours.is_open(utc(2026, 3, 8, 9, 59))  # 05:59 EDT
    assert not hours.is_open(utc(2026, 3, 8, 10, 0))  # 06:00 EDT (11:00 UTC in EST)
    assert hours.next_open(utc(2026, 3, 8, 12, 0)) == utc(2026, 3, 9, 2, 0)  # 22:00 EDT
    # 2026-11-01: 02:00 EDT -> 01:00 EST; 01:00-02:00 local happens twice.
    once_more = window("01:00", "02:00", NEW_YORK)
    assert once_more.is_open(utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    assert once_more.is_open(utc(2026, 11, 1, 6, 30))  # 01:30 EST
    assert not once_more.is_open(utc(2026, 11, 1, 7, 0))  # 02:00 EST


def test_timezone_resolution(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert str(resolve_timezone("")) == "Asia/Tokyo"
    assert str(resolve_timezone("local")) == "Asia/Tokyo"
    monkeypatch.setenv("TZ", ":Europe/Paris")
    assert str(local_zone()) == "Europe/Paris"
    assert resolve_timezone("America/New_York") == NEW_YORK
    with pytest.raises(ScheduleError, match="Mars/Base"):
        resolve_timezone("Mars/Base")


def test_default_zone_follows_the_machine_with_dst(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    settings = load_settings(HeartbeatConfig(active_start="09:00", active_end="17:00"))
    assert settings.active_hours is not None
    assert settings.active_hours.is_open(utc(2026, 7, 1, 7, 0))  # 09:00 CEST
    assert not settings.active_hours.is_open(utc(2026, 1, 5, 7, 0))  # 08:00 CET


def test_settings_errors_name_the_key():
    with pytest.raises(ScheduleError, match="heartbeat.interval"):
        load_settings(HeartbeatConfig(interval="often"))
    with pytest.raises(ScheduleError, match="heartbeat.timezone"):
        load_settings(HeartbeatConfig(timezone="Nowhere/Town"))
    with pytest.raises(ScheduleError, match="active_start/active_end"):
        load_settings(HeartbeatConfig(active_start="09:00"))


def test_busy_retry_is_short_and_below_half_an_interval():
    assert load_settings(HeartbeatConfig(interval="30m")).busy_retry == timedelta(seconds=30)
    assert load_settings(HeartbeatConfig(interval="20s")).busy_retry == timedelta(seconds=10)
    assert not load_settings(HeartbeatConfig(interval="0")).enabled
