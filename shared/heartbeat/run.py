"""What a heartbeat run reports back: the model's reply becomes an outcome; an alert is kept
with the run (never in the user's notes by default) and raised only when it is grounded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from shared.config import Config, HeartbeatConfig
from shared.heartbeat.ack import classify_reply
from shared.heartbeat.alerts import MAX_ALERT_CHARS, PREVIEW_CHARS, grounding, record_alert
from shared.heartbeat.recital import instruction_texts, restates_instructions
from shared.heartbeat.settings import load_settings
from shared.heartbeat.state import HeartbeatStore
from shared.logs import get_logger

Outcome = Literal[
    "ok-empty", "ok-token", "silent", "alert", "duplicate", "echo", "ungrounded", "failed"
]
ECHO = "restates its instructions (prompt, HEARTBEAT.md): kept with the run, not raised"
UNGROUNDED = "cites no note line that exists (path#Lx-Ly): kept with the run, not raised"

log = get_logger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    outcome: Outcome
    text: str  # the alert text for `alert`, `duplicate`, `echo` and `ungrounded`, else ""
    citations: list[str] = field(default_factory=list)  # verified workspace lines it cites
    daily_log: str | None = None  # where the alert was also appended (log_alerts_to_daily)


def complete_run(
    now: datetime,
    config: Config | HeartbeatConfig,
    state: HeartbeatStore,
    workspace: Path,
    decision_id: int,
    reply: str | None,
    prompt: str = "",
) -> RunOutcome:
    """Classify the reply (ack, `NO_REPLY`, or alert) and record the outcome (which marks due
    tasks as run). An alert that restates its instructions (the run's `prompt` and the
    instruction files, HEARTBEAT.md first) is `echo`; one citing no note line that exists is
    `ungrounded`; a repeat within 24 h is `duplicate`; the rest is raised: kept with the run
    and logged."""
    settings = load_settings(config)
    verdict = classify_reply(reply, settings.ack_max_chars)
    text = verdict.text[:MAX_ALERT_CHARS]
    echo = verdict.is_alert and restates_instructions(text, instruction_texts(workspace, prompt))
    cited = grounding(workspace, text) if verdict.is_alert and not echo else []
    with state.transaction() as txn:
        txn.require_enqueued(decision_id)
        if not verdict.is_alert:
            txn.finish_run(decision_id, verdict.kind, "", now)
            return RunOutcome(verdict.kind, "")
        if echo:
            log.warning("heartbeat_reply_echo", decision_id=decision_id, alert=text)
            txn.finish_run(decision_id, "echo", ECHO, now, text)
            return RunOutcome("echo", text)
        if not cited:
            log.warning("heartbeat_alert_ungrounded", decision_id=decision_id, alert=text)
            txn.finish_run(decision_id, "ungrounded", UNGROUNDED, now, text)
            return RunOutcome("ungrounded", text)
        if record_alert(txn, text, now).kind == "duplicate":
            detail = "same alert within 24h: suppressed"
            txn.finish_run(decision_id, "duplicate", detail, now, text, cited)
            return RunOutcome("duplicate", text, cited)
        txn.finish_run(decision_id, "alert", text[:PREVIEW_CHARS], now, text, cited)
    log.info("heartbeat alert", decision_id=decision_id, alert=text, citations=cited)
    daily = _to_daily_log(config, now, settings.zone, decision_id, text)
    return RunOutcome("alert", text, cited, daily)


def _to_daily_log(
    config: Config | HeartbeatConfig, now: datetime, zone, decision_id: int, text: str
) -> str | None:
    """Only with `[heartbeat] log_alerts_to_daily = true`: the alert, marked as written by
    the assistant, in today's daily log (through the one daily-log writer)."""
    if not isinstance(config, Config) or not config.heartbeat.log_alerts_to_daily:
        return None
    from shared.memory.writes import append_daily_entry

    local = now.astimezone(zone)
    heading = f"Heartbeat alert {local:%H:%M}"
    written = append_daily_entry(config, text, local, f"heartbeat-{decision_id}", heading)
    return written.path


def fail_run(now: datetime, state: HeartbeatStore, decision_id: int, error: str) -> RunOutcome:
    """A run that raised or timed out: recorded, and its tasks stay due for the next slot."""
    state.finish_run(decision_id, "failed", error[:PREVIEW_CHARS], now)
    return RunOutcome("failed", "")
