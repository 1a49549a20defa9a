"""What a heartbeat run reports back: the model's reply becomes an outcome, alerts get logged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from shared.config import Config, HeartbeatConfig
from shared.heartbeat.ack import classify_reply
from shared.heartbeat.alerts import PREVIEW_CHARS, record_alert
from shared.heartbeat.settings import load_settings
from shared.heartbeat.state import HeartbeatStore

Outcome = Literal["ok-empty", "ok-token", "silent", "alert", "duplicate", "failed"]


@dataclass(frozen=True)
class RunOutcome:
    outcome: Outcome
    text: str  # the alert text for `alert` and `duplicate`, else ""
    daily_log: Path | None  # where an `alert` was appended


def complete_run(
    now: datetime,
    config: Config | HeartbeatConfig,
    state: HeartbeatStore,
    workspace: Path,
    decision_id: int,
    reply: str | None,
) -> RunOutcome:
    """Classify the reply (ack, `NO_REPLY`, or alert), log a new alert to today's daily log,
    suppress a repeat within 24 h, and record the outcome (which marks due tasks as run)."""
    settings = load_settings(config)
    verdict = classify_reply(reply, settings.ack_max_chars)
    with state.transaction() as txn:
        txn.require_enqueued(decision_id)
        if not verdict.is_alert:
            txn.finish_run(decision_id, verdict.kind, "", now)
            return RunOutcome(verdict.kind, "", None)
        alert = record_alert(txn, workspace, verdict.text, now, settings.zone)
        if alert.kind == "duplicate":
            txn.finish_run(decision_id, "duplicate", "same alert within 24h: suppressed", now)
            return RunOutcome("duplicate", verdict.text, None)
        txn.finish_run(decision_id, "alert", verdict.text[:PREVIEW_CHARS], now)
        return RunOutcome("alert", verdict.text, alert.path)


def fail_run(now: datetime, state: HeartbeatStore, decision_id: int, error: str) -> RunOutcome:
    """A run that raised or timed out: recorded, and its tasks stay due for the next slot."""
    state.finish_run(decision_id, "failed", error[:PREVIEW_CHARS], now)
    return RunOutcome("failed", "", None)
