"""Heartbeat: scheduled, self-checking background work driven by HEARTBEAT.md (OpenClaw-compatible).

The heartbeat loop calls `decide()` each tick and sleeps until `Decision.next_due`; an
`enqueued` decision carries the prompt for a run, whose reply goes to `complete_run()`.
"""

from shared.heartbeat.ack import HEARTBEAT_TOKEN, SILENT_TOKEN, ReplyVerdict, classify_reply
from shared.heartbeat.alerts import AlertResult, append_daily_log, record_alert
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
    "append_daily_log",
    "classify_reply",
    "complete_run",
    "decide",
    "fail_run",
    "heartbeat_status",
    "load_settings",
    "parse_interval",
    "read_checklist",
    "record_alert",
    "set_checkbox",
]
