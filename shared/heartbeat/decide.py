"""One heartbeat tick: decide whether to run now, record why, and say when to look again.

The rules run in a fixed order (disabled, quiet hours, empty file, no task due, busy), each
skip is recorded with its reason (OpenClaw PR #124542: an unrecorded skip is unanswerable),
and the schedule is a fixed grid: the next slot follows the slot just served, not the moment a
run ended. A busy skip retries shortly instead of losing a whole interval (OpenClaw #29762).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from shared.config import Config, HeartbeatConfig
from shared.heartbeat.checklist import HEARTBEAT_FILE, Checklist, Task, due_tasks, read_checklist
from shared.heartbeat.prompt import build_prompt
from shared.heartbeat.schedule import format_interval, next_slot_after
from shared.heartbeat.settings import HeartbeatSettings, load_settings
from shared.heartbeat.state import HeartbeatStore, Snapshot, StateTxn
from shared.logs import get_logger

DecisionKind = Literal[
    "not-due",  # called before the next due time: nothing evaluated, nothing recorded
    "disabled",
    "quiet-hours",
    "empty-heartbeat-file",
    "no-tasks-due",
    "busy",
    "enqueued",
]

log = get_logger(__name__)


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    reason: str
    at: datetime
    next_due: datetime | None  # when to call decide() again; None: disabled
    id: int | None = None  # the recorded decision (pass it to complete_run); None if not-due
    manual: bool = False
    slot: datetime | None = None  # the scheduled time this tick served
    prompt: str | None = None  # the user message for the run, when enqueued
    due_tasks: tuple[str, ...] = ()

    @property
    def enqueued(self) -> bool:
        return self.kind == "enqueued"


@dataclass(frozen=True)
class _Verdict:
    kind: DecisionKind
    reason: str
    prompt: str | None = None
    due: tuple[Task, ...] = ()
    opens: datetime | None = None  # quiet hours: when the window next opens


def decide(
    now: datetime,
    config: Config | HeartbeatConfig,
    state: HeartbeatStore,
    workspace: Path,
    busy: bool,
    *,
    manual: bool = False,
) -> Decision:
    """Evaluate a tick at `now` (timezone-aware). `busy`: a heartbeat run is still going.

    The loop may call this as often as it likes and sleep until `next_due`; before that it
    returns `not-due` without recording anything. `manual=True` (`localgpt heartbeat run`)
    bypasses only the schedule: every other rule applies and the schedule is left alone.
    Raises ScheduleError (a ConfigError) for an unusable `[heartbeat]` section.
    """
    if now.tzinfo is None:
        raise ValueError("decide() needs a timezone-aware `now`")
    settings = load_settings(config)
    with state.transaction() as txn:
        snap = txn.snapshot()
        if not settings.enabled:
            return _disabled(txn, now, manual)
        slot = _pending_slot(txn, snap, settings, now)
        if slot is None:
            first = now + settings.interval
            txn.set_schedule(settings.interval, first, None)
            if not manual:
                return Decision("not-due", "first start: heartbeat in one interval", now, first)
            slot = first
        due = _retry_at(snap, settings, now) or slot
        if not manual and now < due:
            return Decision("not-due", f"next heartbeat at {due.isoformat()}", now, due)
        verdict = _evaluate(now, settings, snap, workspace, busy)
        next_due = due if manual else _reschedule(txn, verdict, settings, slot, now)
        return _record(txn, now, verdict, next_due, manual, now if manual else slot, settings)


def _disabled(txn: StateTxn, now: datetime, manual: bool) -> Decision:
    if not manual:
        txn.set_schedule(None, None, None)
    verdict = _Verdict("disabled", "heartbeat.interval is 0")
    decision_id = txn.record_decision(
        at=now,
        kind="disabled",
        reason=verdict.reason,
        next_due=None,
        manual=manual,
        slot=None,
        tasks=[],
    )
    return Decision("disabled", verdict.reason, now, None, decision_id, manual)


def _pending_slot(
    txn: StateTxn, snap: Snapshot, settings: HeartbeatSettings, now: datetime
) -> datetime | None:
    """The stored slot, pulled in when it lies beyond one interval from now (or beyond the
    window's next opening): the interval or active hours were changed, or the clock went back.
    Without this a backwards clock jump would silently stall the heartbeat."""
    if snap.next_slot is None or snap.interval is None:
        return None
    latest = now + settings.interval
    if settings.active_hours is not None:
        latest = max(latest, settings.active_hours.next_open(now) or latest)
    slot = min(snap.next_slot, latest)
    retry = _retry_at(snap, settings, now)
    if (slot, retry, snap.interval) != (snap.next_slot, snap.retry_at, settings.interval):
        txn.set_schedule(settings.interval, slot, retry)
    return slot


def _retry_at(snap: Snapshot, settings: HeartbeatSettings, now: datetime) -> datetime | None:
    return None if snap.retry_at is None else min(snap.retry_at, now + settings.busy_retry)


def _evaluate(
    now: datetime, settings: HeartbeatSettings, snap: Snapshot, workspace: Path, busy: bool
) -> _Verdict:
    """The rules, in order; the first that applies decides."""
    hours = settings.active_hours
    if hours is not None and not hours.is_open(now):
        opens = hours.next_open(now)
        when = opens.astimezone(settings.zone).isoformat() if opens else "never (zero-width)"
        return _Verdict(
            "quiet-hours", f"outside active hours {hours.describe()}; opens {when}", opens=opens
        )
    checklist, note = _read(workspace)
    if checklist is not None and checklist.effectively_empty:
        return _Verdict(
            "empty-heartbeat-file",
            f"{HEARTBEAT_FILE} has only headings, comments and empty list items",
        )
    due: list[Task] = []
    if checklist is not None and checklist.tasks:
        due = due_tasks(checklist.tasks, snap.task_runs, now)
        if not due:
            return _Verdict("no-tasks-due", _no_tasks_reason(checklist))
    if busy:
        retry = format_interval(settings.busy_retry)
        return _Verdict("busy", f"a heartbeat run is still going; retrying in {retry}")
    prompt = build_prompt(settings.prompt, checklist, due, workspace, now, settings.zone)
    reason = f"due tasks: {', '.join(t.name for t in due)}" if due else note
    return _Verdict("enqueued", reason, prompt, tuple(due))


def _read(workspace: Path) -> tuple[Checklist | None, str]:
    """The checklist and how the run will use it; a missing or unreadable file still runs."""
    try:
        checklist = read_checklist(workspace)
    except OSError as exc:
        return None, f"{HEARTBEAT_FILE} unreadable ({exc.strerror or exc}); running anyway"
    if checklist is None:
        return None, f"{HEARTBEAT_FILE} missing; running with the prompt alone"
    return checklist, f"{HEARTBEAT_FILE} has content"


def _no_tasks_reason(checklist: Checklist) -> str:
    reason = f"none of the {len(checklist.tasks)} tasks in {HEARTBEAT_FILE} is due"
    broken = [task.name for task in checklist.tasks if task.interval is None]
    if broken:
        reason += f" (unusable interval, never due: {', '.join(broken)})"
    return reason


def _reschedule(
    txn: StateTxn, verdict: _Verdict, settings: HeartbeatSettings, slot: datetime, now: datetime
) -> datetime:
    """Store and return the next due time: a short retry when busy, the window's opening in
    quiet hours, otherwise the next slot on the grid."""
    if verdict.kind == "busy":
        retry = now + settings.busy_retry
        txn.set_schedule(settings.interval, slot, retry)
        return retry
    if verdict.kind == "quiet-hours":
        opens = verdict.opens or now + settings.interval
        txn.set_schedule(settings.interval, opens, None)
        return opens
    following = next_slot_after(slot, settings.interval, now)
    txn.set_schedule(settings.interval, following, None)
    return following


def _record(
    txn: StateTxn,
    now: datetime,
    verdict: _Verdict,
    next_due: datetime,
    manual: bool,
    slot: datetime,
    settings: HeartbeatSettings,
) -> Decision:
    reason = verdict.reason
    names = [task.name for task in verdict.due]
    decision_id = txn.record_decision(
        at=now,
        kind=verdict.kind,
        reason=reason,
        next_due=next_due,
        manual=manual,
        slot=slot,
        tasks=names,
    )
    if verdict.kind == "enqueued":
        txn.mark_enqueued(decision_id, now)
    txn.prune(now, settings.retention)
    log.info(
        "heartbeat decision",
        kind=verdict.kind,
        reason=reason,
        manual=manual,
        next_due=next_due.isoformat(),
    )
    return Decision(
        verdict.kind,
        reason,
        now,
        next_due,
        decision_id,
        manual,
        slot,
        verdict.prompt,
        tuple(names),
    )
