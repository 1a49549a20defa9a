"""A run's reply becomes an outcome (ack, silent, alert, duplicate), and status shows it all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import write

from shared.heartbeat.decide import decide
from shared.heartbeat.run import complete_run, fail_run
from shared.heartbeat.state import HeartbeatStore
from shared.heartbeat.status import heartbeat_status

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.fixture
def store(tmp_path) -> HeartbeatStore:
    return HeartbeatStore(tmp_path / "heartbeat.db")


@pytest.fixture
def hb(config, workspace):
    config.heartbeat.timezone = "UTC"
    write(workspace / "HEARTBEAT.md", "- [ ] Check the backups\n")
    return config.heartbeat


def enqueue(now, hb, store, workspace):
    decision = decide(now, hb, store, workspace, False, manual=True)
    assert decision.kind == "enqueued"
    return decision


def test_ack_is_not_news(hb, store, workspace):
    run = enqueue(T0, hb, store, workspace)
    out = complete_run(T0 + M, hb, store, workspace, run.id, "**HEARTBEAT_OK** all fine")
    assert (out.outcome, out.text, out.daily_log) == ("ok-token", "", None)
    assert not (workspace / "memory" / "2026-06-01.md").exists()
    silent = complete_run(
        T0 + 2 * M, hb, store, workspace, enqueue(T0, hb, store, workspace).id, "NO_REPLY"
    )
    assert silent.outcome == "silent"


def test_alert_goes_to_the_daily_log_once_per_24h(hb, store, workspace):
    log = workspace / "memory" / "2026-06-01.md"
    write(log, "# 2026-06-01\n\nUser's own notes.\n")
    before = log.read_bytes()
    first = complete_run(
        T0, hb, store, workspace, enqueue(T0, hb, store, workspace).id, "Backup failed twice."
    )
    assert (first.outcome, first.daily_log) == ("alert", log)
    assert log.read_bytes() == before + b"\n## Heartbeat alert 10:00\n\nBackup failed twice.\n"
    later = T0 + timedelta(hours=3)
    dup = complete_run(
        later, hb, store, workspace, enqueue(later, hb, store, workspace).id, "backup failed twice."
    )
    assert dup.outcome == "duplicate" and dup.daily_log is None
    assert log.read_bytes().count(b"Backup failed twice.") == 1
    status = heartbeat_status(later, hb, store)
    assert status["last_run"]["outcome"] == "duplicate"
    assert status["last_alert"] == {"at": T0.isoformat(), "preview": "Backup failed twice."}


def test_unknown_decision_is_refused_before_logging(hb, store, workspace):
    skip = decide(T0, hb, store, workspace, True, manual=True)  # busy: not a run
    for decision_id in (skip.id, 999):
        with pytest.raises(KeyError):
            complete_run(T0, hb, store, workspace, decision_id, "Something broke")
    assert not (workspace / "memory" / "2026-06-01.md").exists()


def test_status_shape_and_json(hb, store, workspace):
    status = heartbeat_status(T0, hb, store)
    assert status == {
        "enabled": True,
        "interval": "30m",
        "timezone": "UTC",
        "active_hours": None,
        "window_open": True,
        "window_opens_at": None,
        "next_due": None,
        "last_run": None,
        "last_outcome": None,
        "last_alert": None,
        "decisions": [],
    }
    decide(T0, hb, store, workspace, False)  # first start schedules T0 + 30m
    run = decide(T0 + 30 * M, hb, store, workspace, False)
    status = heartbeat_status(T0 + 31 * M, hb, store)
    assert status["next_due"] == (T0 + 60 * M).isoformat()
    assert status["last_run"]["outcome"] is None, "still going"
    assert status["decisions"][0]["kind"] == "enqueued"
    assert status["decisions"][0]["reason"] == "HEARTBEAT.md has content"
    fail_run(T0 + 40 * M, store, run.id, "model timed out")
    status = heartbeat_status(T0 + 41 * M, hb, store)
    assert status["last_run"]["outcome"] == "failed"
    assert status["last_run"]["detail"] == "model timed out"
    assert status["decisions"][0]["outcome"] == "failed"
    json.dumps(status)  # what `heartbeat status --json` prints


def test_status_while_a_run_is_going_keeps_the_previous_outcome(hb, store, workspace):
    first = enqueue(T0, hb, store, workspace)
    complete_run(T0 + M, hb, store, workspace, first.id, "HEARTBEAT_OK")
    second = enqueue(T0 + 30 * M, hb, store, workspace)
    status = heartbeat_status(T0 + 31 * M, hb, store)
    assert status["last_run"]["decision_id"] == second.id
    assert status["last_run"]["outcome"] is None
    assert status["last_outcome"]["decision_id"] == first.id
    assert status["last_outcome"]["outcome"] == "ok-token"


def test_status_shows_the_last_20_decisions_newest_first(hb, store, workspace):
    for minute in range(25):
        decide(T0 + minute * M, hb, store, workspace, minute % 2 == 0, manual=True)
    decisions = heartbeat_status(T0 + 30 * M, hb, store)["decisions"]
    assert len(decisions) == 20
    assert decisions[0]["at"] == (T0 + 24 * M).isoformat()
    assert decisions[-1]["at"] == (T0 + 5 * M).isoformat()
    assert {d["kind"] for d in decisions} == {"busy", "enqueued"}


def test_status_in_quiet_hours_and_when_disabled(hb, store, workspace):
    hb.timezone = "Europe/Berlin"
    hb.active_start, hb.active_end = "22:00", "07:00"
    status = heartbeat_status(T0, hb, store)  # 12:00 in Berlin
    assert status["window_open"] is False
    assert status["active_hours"] == "22:00-07:00 Europe/Berlin"
    assert status["window_opens_at"] == datetime(2026, 6, 1, 20, 0, tzinfo=UTC).isoformat()
    hb.interval = "0"
    off = heartbeat_status(T0, hb, store)
    assert off["enabled"] is False and off["next_due"] is None


def test_status_reports_a_bad_config_instead_of_failing(hb, store, workspace):
    hb.interval = "every now and then"
    status = heartbeat_status(T0, hb, store)
    assert status["enabled"] is False
    assert "heartbeat.interval" in status["config_error"]
    assert status["decisions"] == []


def test_last_alert_outlives_the_dedup_window(hb, store, workspace):
    run = enqueue(T0, hb, store, workspace)
    complete_run(T0, hb, store, workspace, run.id, "Backup failed twice.")
    later = T0 + timedelta(hours=30)
    decide(later, hb, store, workspace, True, manual=True)  # a decision prunes old records
    assert heartbeat_status(later, hb, store)["last_alert"]["preview"] == "Backup failed twice."
