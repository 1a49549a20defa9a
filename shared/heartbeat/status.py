"""The status `localgpt heartbeat status --json` prints and `GET /api/heartbeat/status` returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.config import Config, HeartbeatConfig
from shared.heartbeat.schedule import ScheduleError, format_interval, zone_name
from shared.heartbeat.settings import HeartbeatSettings, load_settings
from shared.heartbeat.state import DecisionRow, HeartbeatStore, Snapshot

STATUS_DECISIONS = 20


def heartbeat_status(
    now: datetime, config: Config | HeartbeatConfig, state: HeartbeatStore
) -> dict[str, Any]:
    """Enabled, active window open now, last run and outcome, next due, the last 20 decisions
    (newest first) and the last alert. A bad `[heartbeat]` section is reported, not raised."""
    with state.reading() as txn:
        snap = txn.snapshot()
        rows = txn.decisions(STATUS_DECISIONS)
        alert = txn.last_alert()
    try:
        settings = load_settings(config)
    except ScheduleError as exc:
        out: dict[str, Any] = {"enabled": False, "config_error": str(exc)}
    else:
        out = _schedule_status(now, settings, snap)
    out["last_run"] = _last_run(snap)
    out["last_outcome"] = _last_outcome(snap)
    out["last_alert"] = None if alert is None else _alert(alert)
    out["decisions"] = [_decision(row) for row in rows]
    return out


def _schedule_status(now: datetime, settings: HeartbeatSettings, snap: Snapshot) -> dict[str, Any]:
    hours = settings.active_hours
    is_open = hours is None or hours.is_open(now)
    return {
        "enabled": settings.enabled,
        "interval": format_interval(settings.interval),
        "timezone": zone_name(settings.zone),
        "active_hours": None if hours is None else hours.describe(),
        "window_open": is_open,
        "window_opens_at": None if is_open or hours is None else _iso(hours.next_open(now)),
        "next_due": _iso(snap.next_due) if settings.enabled else None,
    }


def _last_run(snap: Snapshot) -> dict[str, Any] | None:
    """The latest enqueued run; its outcome is None while it is still going."""
    if snap.last_run_at is None:
        return None
    finished = snap.last_outcome_decision == snap.last_run_decision
    return {
        "at": _iso(snap.last_run_at),
        "decision_id": snap.last_run_decision,
        "outcome": snap.last_outcome if finished else None,
        "outcome_at": _iso(snap.last_outcome_at) if finished else None,
        "detail": snap.last_outcome_detail if finished else None,
    }


def _last_outcome(snap: Snapshot) -> dict[str, Any] | None:
    """The latest finished run (differs from last_run while a run is going)."""
    if snap.last_outcome is None:
        return None
    return {
        "decision_id": snap.last_outcome_decision,
        "outcome": snap.last_outcome,
        "at": _iso(snap.last_outcome_at),
        "detail": snap.last_outcome_detail,
    }


def _decision(row: DecisionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": _iso(row.at),
        "last_at": _iso(row.last_at),
        "repeats": row.repeats,
        "kind": row.kind,
        "reason": row.reason,
        "manual": row.manual,
        "next_due": _iso(row.next_due),
        "tasks": row.tasks,
        "outcome": row.outcome,
        "detail": row.outcome_detail,
        "alert": row.alert,
        "citations": row.citations,
    }


def _alert(row: DecisionRow) -> dict[str, Any]:
    """The last raised alert: when, a preview (as before), its whole text and what it cites."""
    text = row.alert or row.outcome_detail or ""
    return {
        "at": _iso(row.outcome_at),
        "decision_id": row.id,
        "preview": text[:200],
        "text": text,
        "citations": row.citations,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
