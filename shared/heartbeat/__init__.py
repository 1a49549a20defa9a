"""Heartbeat: scheduled background work driven by HEARTBEAT.md (OpenClaw-compatible).

The loop calls `decide()` and sleeps until `Decision.next_due` (a minute or so when None:
disabled); an `enqueued` decision carries the prompt for one run, and the run hands the
model's reply to `complete_run()` (or its error to `fail_run()`):

    store = HeartbeatStore(config.heartbeat_db)
    while running:
        now = datetime.now(UTC)
        busy = ledger.active_of_kind("heartbeat") > 0  # the job ledger knows
        decision = decide(now, load_config(), store, config.workspace_dir, busy)
        if decision.enqueued:
            enqueue_heartbeat_run(decision.id, decision.prompt)
        sleep_until(decision.next_due or now + timedelta(minutes=1))
"""

from shared.heartbeat.ack import HEARTBEAT_TOKEN, SILENT_TOKEN, ReplyVerdict, classify_reply
from shared.heartbeat.alerts import AlertResult, grounding, record_alert
from shared.heartbeat.checkbox import (
    AmbiguousMatchError,
    CheckboxError,
    CheckboxResult,
    NoMatchError,
    set_checkbox,
)
from shared.heartbeat.checklist import Checklist, Task, read_checklist
from shared.heartbeat.decide import Decision, decide
from shared.heartbeat.run import RunOutcome, complete_run, fail_run
from shared.heartbeat.schedule import ActiveHours, ScheduleError, parse_interval
from shared.heartbeat.settings import HeartbeatSettings, load_settings
from shared.heartbeat.state import HeartbeatStore
from shared.heartbeat.status import heartbeat_status

__all__ = [
    "HEARTBEAT_TOKEN",
    "SILENT_TOKEN",
    "ActiveHours",
    "AlertResult",
    "AmbiguousMatchError",
    "CheckboxError",
    "CheckboxResult",
    "Checklist",
    "Decision",
    "HeartbeatSettings",
    "HeartbeatStore",
    "NoMatchError",
    "ReplyVerdict",
    "RunOutcome",
    "ScheduleError",
    "Task",
    "classify_reply",
    "complete_run",
    "decide",
    "fail_run",
    "grounding",
    "heartbeat_status",
    "load_settings",
    "parse_interval",
    "read_checklist",
    "record_alert",
    "set_checkbox",
]
