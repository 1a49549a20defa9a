"""Scheduled jobs: a prompt run by the assistant on a schedule, each run a job in the ledger.

A schedule is `every` (a fixed period in absolute time: `--every 1h` is every 3,600 s, DST or
not), `cron` (a 5-field cron expression evaluated in its time zone by `cronsim`, which follows
Debian cron on DST days: a time skipped by the spring change runs just after it, a time repeated
in autumn runs once) or `at` (once, at an instant).

Schedules live in the ledger's file (`data/jobs.db`), not in Huey's queue file, so they survive
restarts and a deleted queue.db. The heartbeat process calls `fire_due(now)`: for each schedule
whose next slot has come, one transaction records the run (a `cron` job, in its own session)
and moves the schedule to its next slot, so a slot is never run twice, even by two processes.
Slots missed while the system was down collapse into one run at start (`[cron] catch_up`,
default on), or are skipped. A slot whose previous run is still queued or running is skipped
(a schedule never overlaps itself).
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from cronsim import CronSim, CronSimError

from shared.config import Config
from shared.heartbeat.schedule import (
    ScheduleError,
    format_interval,
    parse_interval,
    resolve_timezone,
    zone_name,
)
from shared.ledger import Job, JobLedger
from shared.logs import get_logger

log = get_logger(__name__)

MIN_EVERY = timedelta(minutes=1)  # the scheduler's resolution; a cron expression's too
MAX_EVERY = timedelta(days=366)
LATE_AFTER = 120.0  # seconds past its slot: a run is "missed" (the system was down)
MAX_PROMPT_CHARS = 100_000
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,63}$")


class CronError(ValueError):
    """A schedule cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    prompt: str
    kind: str  # every | cron | at
    spec: str
    tz: str
    paused: bool
    created_at: float
    updated_at: float
    anchor: float
    next_run: float | None
    last_slot: float | None
    last_job_id: str | None
    runs: int
    skipped: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Schedule:
        data = dict(row)
        data["paused"] = bool(data["paused"])
        return cls(**data)

    @property
    def zone(self) -> tzinfo:
        return resolve_timezone(self.tz)

    def describe(self) -> str:
        if self.kind == "every":
            return f"every {format_interval(timedelta(seconds=float(self.spec)))}"
        if self.kind == "cron":
            return f"cron {self.spec} ({self.tz})"
        return f"at {datetime.fromtimestamp(float(self.spec), self.zone).isoformat()}"

    @property
    def status(self) -> str:
        if self.next_run is None:
            return "finished"
        return "paused" if self.paused else "active"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prompt": self.prompt,
            "kind": self.kind,
            "spec": self.spec,
            "tz": self.tz,
            "schedule": self.describe(),
            "status": self.status,
            "paused": self.paused,
            "next_run": _iso(self.next_run, self.zone),
            "last_run": _iso(self.last_slot, self.zone),
            "last_job_id": self.last_job_id,
            "runs": self.runs,
            "skipped": self.skipped,
            "created_at": _iso(self.created_at, self.zone),
        }


def _iso(epoch: float | None, zone: tzinfo) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, zone).isoformat()


# -- schedules: parsing and the next slot --------------------------------------------------


@dataclass(frozen=True)
class Spec:
    kind: str
    spec: str
    tz: str


def parse_spec(
    now: datetime,
    *,
    every: str | None = None,
    cron: str | None = None,
    at: str | None = None,
    tz: str | None = None,
    default_tz: str = "",
) -> Spec:
    """Exactly one of every / cron / at, checked: clear errors for what cannot run."""
    given = [name for name, value in (("every", every), ("cron", cron), ("at", at)) if value]
    if len(given) != 1:
        raise CronError("give exactly one of --every, --cron or --at")
    try:
        zone = resolve_timezone(tz if tz is not None else default_tz)
    except ScheduleError as exc:
        raise CronError(str(exc)) from None
    zname = zone_name(zone)
    if every:
        try:
            period = parse_interval(every)
        except ScheduleError as exc:
            raise CronError(str(exc).replace("interval", "--every", 1)) from None
        if period < MIN_EVERY:
            raise CronError(
                f"--every {every} is too often: the shortest period is 1m "
                "(the scheduler works to the minute)"
            )
        if period > MAX_EVERY:
            raise CronError(f"--every {every} is longer than a year; use --cron or --at")
        return Spec("every", str(int(period.total_seconds())), zname)
    if cron:
        expr = " ".join(cron.split())
        if len(expr.split()) != 5:
            raise CronError(
                f"--cron {cron!r} needs 5 fields: minute hour day-of-month month day-of-week "
                "(e.g. '0 8 * * 1-5'); seconds are not supported"
            )
        try:
            CronSim(expr, now.astimezone(zone))
        except CronSimError as exc:
            raise CronError(f"--cron {cron!r} is not a valid cron expression: {exc}") from None
        if _next_cron(expr, zone, now.timestamp()) is None:
            raise CronError(f"--cron {cron!r} never matches a date")
        return Spec("cron", expr, zname)
    assert at is not None
    return Spec("at", str(_parse_at(at, zone, now)), zname)


def _parse_at(text: str, zone: tzinfo, now: datetime) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CronError(
            f"--at {text!r} is not a date and time like 2026-12-24T09:00 (ISO 8601)"
        ) from None
    if moment.tzinfo is None:
        local = moment.replace(tzinfo=zone)
        # A wall time the spring DST change skips does not exist: say so, do not guess.
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
            raise CronError(f"--at {text} does not exist in {zone_name(zone)} (a DST change)")
        moment = local
    if moment <= now:
        raise CronError(f"--at {text} is in the past (now is {now.astimezone(zone).isoformat()})")
    return moment.timestamp()


def next_slot(kind: str, spec: str, tz: str, anchor: float, after: float) -> float | None:
    """The first slot strictly after `after` (UTC epoch); None: the schedule is over."""
    if kind == "every":
        period = float(spec)
        if after < anchor:
            return anchor
        steps = int((after - anchor) // period) + 1
        return anchor + steps * period
    if kind == "cron":
        return _next_cron(spec, resolve_timezone(tz), after)
    at = float(spec)
    return at if at > after else None


def _next_cron(expr: str, zone: tzinfo, after: float) -> float | None:
    start = datetime.fromtimestamp(int(after), zone)
    it = CronSim(expr, start)
    for _ in range(1000):  # a repeated autumn hour can yield a time already past once
        try:
            found = next(it).timestamp()
        except StopIteration:
            return None
        if found > after:
            return found
    return None


# -- the store -----------------------------------------------------------------------------


def add_schedule(
    ledger: JobLedger,
    config: Config,
    prompt: str,
    spec: Spec,
    name: str | None = None,
    now: datetime | None = None,
) -> Schedule:
    now = now or datetime.now(UTC)
    if not prompt.strip():
        raise CronError("the prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise CronError(f"the prompt is {len(prompt)} chars; the limit is {MAX_PROMPT_CHARS}")
    schedule_id = uuid.uuid4().hex[:12]
    name = (name or _default_name(prompt, schedule_id)).strip()
    if not NAME.match(name) or name.isdigit():
        raise CronError(
            f"name {name!r}: use up to 64 letters, digits, spaces, '.', '_', ':' or '-', "
            "not only digits"
        )
    anchor = now.timestamp()
    if spec.kind == "every":  # the grid starts one period from now
        anchor += float(spec.spec)
        first: float | None = anchor
    else:
        first = next_slot(spec.kind, spec.spec, spec.tz, anchor, anchor)
    if first is None:
        raise CronError("this schedule would never run")
    with ledger.transaction() as conn:
        count = conn.execute("SELECT count(*) FROM schedules").fetchone()[0]
        if count >= config.cron.max_jobs:
            raise CronError(
                f"there are already {count} scheduled jobs, the limit ([cron] max_jobs); "
                "remove some first"
            )
        if conn.execute("SELECT 1 FROM schedules WHERE name = ?", (name,)).fetchone():
            raise CronError(f"a scheduled job is already named {name!r}")
        conn.execute(
            "INSERT INTO schedules (id, name, prompt, kind, spec, tz, created_at, updated_at,"
            " anchor, next_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                schedule_id,
                name,
                prompt,
                spec.kind,
                spec.spec,
                spec.tz,
                time.time(),
                time.time(),
                anchor,
                first,
            ),
        )
    log.info("schedule_added", schedule_id=schedule_id, name=name, kind=spec.kind)
    return get_schedule(ledger, schedule_id)


def _default_name(prompt: str, schedule_id: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", prompt.lower())[:4]
    return "-".join(words + [schedule_id[:4]]) if words else f"job-{schedule_id[:8]}"


def get_schedule(ledger: JobLedger, ref: str) -> Schedule:
    """By id, by name, or by a unique start of its id (`shared.ids`: UnknownId, AmbiguousId,
    both LookupErrors)."""
    from shared.ids import prefix_range, resolve_id

    conn = ledger._conn()
    row = conn.execute(
        "SELECT * FROM schedules WHERE id = ? OR name = ? LIMIT 1", (ref, ref)
    ).fetchone()
    if row is None:

        def starting_with(prefix: str, limit: int) -> list[str]:
            rows = conn.execute(
                "SELECT id FROM schedules WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                (*prefix_range(prefix), limit),
            )
            return [r[0] for r in rows]

        schedule_id = resolve_id(ref, starting_with, "scheduled job")
        row = conn.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        if row is None:  # removed meanwhile
            raise LookupError(f"no scheduled job {ref!r}")
    return Schedule.from_row(row)


def list_schedules(ledger: JobLedger) -> list[Schedule]:
    rows = ledger._conn().execute(
        "SELECT * FROM schedules ORDER BY next_run IS NULL, next_run, name"
    )
    return [Schedule.from_row(r) for r in rows]


def remove_schedule(ledger: JobLedger, ref: str) -> Schedule:
    """The schedule goes; its runs stay in the ledger (they carry its name)."""
    schedule = get_schedule(ledger, ref)
    with ledger.transaction() as conn:
        conn.execute("DELETE FROM schedules WHERE id = ?", (schedule.id,))
    log.info("schedule_removed", schedule_id=schedule.id, name=schedule.name)
    return schedule


def set_paused(ledger: JobLedger, ref: str, paused: bool, now: datetime | None = None) -> Schedule:
    """Pause, or resume from now on: slots that passed while paused are not run."""
    schedule = get_schedule(ledger, ref)
    now_epoch = (now or datetime.now(UTC)).timestamp()
    with ledger.transaction() as conn:
        next_run = schedule.next_run
        if not paused and schedule.paused and next_run is not None and next_run <= now_epoch:
            next_run = next_slot(
                schedule.kind, schedule.spec, schedule.tz, schedule.anchor, now_epoch
            )
        conn.execute(
            "UPDATE schedules SET paused = ?, next_run = ?, updated_at = ? WHERE id = ?",
            (int(paused), next_run, time.time(), schedule.id),
        )
    return get_schedule(ledger, schedule.id)


def run_now(queue, ref: str, now: datetime | None = None) -> Job:
    """A run outside the schedule (its slots stay as they are)."""
    ledger = queue.ledger
    schedule = get_schedule(ledger, ref)
    at = (now or datetime.now(UTC)).timestamp()
    with ledger.transaction() as conn:
        busy = _active_run(conn, schedule)
        if busy:
            raise CronError(f"a run of {schedule.name!r} is still {busy[1]} (job {busy[0]})")
        job = _record_run(conn, ledger, schedule, at, manual=True, missed=False)
        conn.execute(
            "UPDATE schedules SET last_job_id = ?, runs = runs + 1, updated_at = ? WHERE id = ?",
            (job.id, time.time(), schedule.id),
        )
    queue.hand_over([job.id])
    return job


def _active_run(conn: sqlite3.Connection, schedule: Schedule) -> tuple[str, str] | None:
    if not schedule.last_job_id:
        return None
    row = conn.execute(
        "SELECT id, state FROM jobs WHERE id = ? AND state IN ('queued', 'running')",
        (schedule.last_job_id,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def _record_run(
    conn: sqlite3.Connection,
    ledger: JobLedger,
    schedule: Schedule,
    slot: float,
    *,
    manual: bool,
    missed: bool,
) -> Job:
    job, _ = ledger.add(
        "cron",
        {"name": schedule.name, "manual": manual, "missed": missed},
        title=schedule.prompt,
        schedule_id=schedule.id,
        slot=slot,
        conn=conn,
    )
    return job


# -- firing ----------------------------------------------------------------------------------


def next_due(ledger: JobLedger) -> float | None:
    row = (
        ledger._conn()
        .execute("SELECT min(next_run) FROM schedules WHERE paused = 0 AND next_run IS NOT NULL")
        .fetchone()
    )
    return row[0] if row else None


def fire_due(queue, now: datetime, catch_up: bool = True) -> list[Job]:
    """Record a run for every schedule whose slot has come, and move each to its next slot
    (after `now`: missed slots collapse into one run, or none without `catch_up`)."""
    ledger: JobLedger = queue.ledger
    at = now.timestamp()
    due = (
        ledger._conn()
        .execute(
            "SELECT id FROM schedules WHERE paused = 0 AND next_run IS NOT NULL AND next_run <= ?"
            " ORDER BY next_run",
            (at,),
        )
        .fetchall()
    )
    made: list[Job] = []
    for (schedule_id,) in due:
        with ledger.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM schedules WHERE id = ? AND paused = 0 AND next_run <= ?",
                (schedule_id, at),
            ).fetchone()
            if row is None:
                continue  # another process fired it, or it changed meanwhile
            schedule = Schedule.from_row(row)
            slot = schedule.next_run
            assert slot is not None
            following = next_slot(schedule.kind, schedule.spec, schedule.tz, schedule.anchor, at)
            missed = at - slot > LATE_AFTER
            busy = _active_run(conn, schedule)
            if busy or (missed and not catch_up):
                reason = f"previous run still {busy[1]}" if busy else "missed while down"
                conn.execute(
                    "UPDATE schedules SET next_run = ?, skipped = skipped + 1, updated_at = ?"
                    " WHERE id = ?",
                    (following, time.time(), schedule.id),
                )
                log.info("schedule_slot_skipped", schedule_id=schedule.id, reason=reason)
                continue
            job = _record_run(conn, ledger, schedule, slot, manual=False, missed=missed)
            conn.execute(
                "UPDATE schedules SET next_run = ?, last_slot = ?, last_job_id = ?,"
                " runs = runs + 1, updated_at = ? WHERE id = ?",
                (following, slot, job.id, time.time(), schedule.id),
            )
        made.append(job)
        log.info(
            "schedule_fired", schedule_id=schedule.id, job_id=job.id, missed=missed,
            slot=datetime.fromtimestamp(slot, UTC).isoformat(),
        )  # fmt: skip
    if made:
        queue.hand_over([job.id for job in made])
    return made
