"""Persisted heartbeat state in SQLite: the schedule, runs, per-task last runs, decisions, alerts.

Persisting the pending slot (not "last run + sleep") is what lets a restart resume on time
(OpenClaw #132859, LocalGPT PR #33). Every write is one `BEGIN IMMEDIATE` transaction, so the
heartbeat loop and a manual `heartbeat run` in another process serialise instead of racing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.sqlite_db import connect, migrate
from shared.sqlite_tx import immediate

SCHEMA = """
CREATE TABLE IF NOT EXISTS heartbeat_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    interval_s REAL,           -- the interval the grid below was built with
    next_slot REAL,            -- the pending fixed-period slot (UTC epoch seconds)
    retry_at REAL,             -- a short busy retry, or NULL
    last_run_at REAL,
    last_run_decision INTEGER,
    last_outcome TEXT,
    last_outcome_decision INTEGER,
    last_outcome_at REAL,
    last_outcome_detail TEXT
);
INSERT OR IGNORE INTO heartbeat_state (id) VALUES (1);
CREATE TABLE IF NOT EXISTS heartbeat_tasks (
    name TEXT PRIMARY KEY,
    last_run REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS heartbeat_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    last_at REAL NOT NULL,     -- identical consecutive skips are folded into one row
    repeats INTEGER NOT NULL DEFAULT 1,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    next_due REAL,
    manual INTEGER NOT NULL DEFAULT 0,
    slot REAL,                 -- the scheduled time this decision served
    tasks TEXT NOT NULL DEFAULT '[]',
    outcome TEXT,
    outcome_at REAL,
    outcome_detail TEXT
);
CREATE TABLE IF NOT EXISTS heartbeat_alerts (
    digest TEXT PRIMARY KEY,
    at REAL NOT NULL,          -- when it was last reported (not when it was suppressed)
    preview TEXT NOT NULL
);
"""


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _add_alert_columns(conn: sqlite3.Connection) -> None:
    """Version 2: a run keeps its whole alert and the workspace lines it cites (alerts no
    longer go to the daily log)."""
    conn.execute("ALTER TABLE heartbeat_decisions ADD COLUMN alert TEXT")
    conn.execute("ALTER TABLE heartbeat_decisions ADD COLUMN citations TEXT")


# Skips that repeat tick after tick are folded into one row with a count.
FOLDABLE = frozenset({"disabled", "quiet-hours", "empty-heartbeat-file", "no-tasks-due", "busy"})
KEEP_DECISIONS = 1000


def to_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class Snapshot:
    interval: timedelta | None
    next_slot: datetime | None
    retry_at: datetime | None
    last_run_at: datetime | None
    last_run_decision: int | None
    last_outcome: str | None
    last_outcome_decision: int | None
    last_outcome_at: datetime | None
    last_outcome_detail: str | None
    task_runs: dict[str, datetime] = field(default_factory=dict)

    @property
    def next_due(self) -> datetime | None:
        return self.retry_at or self.next_slot


@dataclass(frozen=True)
class DecisionRow:
    id: int
    at: datetime
    last_at: datetime
    repeats: int
    kind: str
    reason: str
    next_due: datetime | None
    manual: bool
    slot: datetime | None
    tasks: list[str]
    outcome: str | None
    outcome_at: datetime | None
    outcome_detail: str | None
    alert: str | None = None  # the whole alert (raised, duplicate or ungrounded)
    citations: list[str] = field(default_factory=list)  # the verified workspace lines it cites


class StateTxn:
    """Reads and writes inside one open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def snapshot(self) -> Snapshot:
        row = self.conn.execute("SELECT * FROM heartbeat_state WHERE id = 1").fetchone()
        tasks = self.conn.execute("SELECT name, last_run FROM heartbeat_tasks").fetchall()
        return Snapshot(
            interval=None if row["interval_s"] is None else timedelta(seconds=row["interval_s"]),
            next_slot=from_epoch(row["next_slot"]),
            retry_at=from_epoch(row["retry_at"]),
            last_run_at=from_epoch(row["last_run_at"]),
            last_run_decision=row["last_run_decision"],
            last_outcome=row["last_outcome"],
            last_outcome_decision=row["last_outcome_decision"],
            last_outcome_at=from_epoch(row["last_outcome_at"]),
            last_outcome_detail=row["last_outcome_detail"],
            task_runs={name: from_epoch(at) for name, at in tasks},
        )

    def set_schedule(
        self, interval: timedelta | None, next_slot: datetime | None, retry_at: datetime | None
    ) -> None:
        self.conn.execute(
            "UPDATE heartbeat_state SET interval_s = ?, next_slot = ?, retry_at = ? WHERE id = 1",
            (
                None if interval is None else interval.total_seconds(),
                to_epoch(next_slot),
                to_epoch(retry_at),
            ),
        )

    def record_decision(
        self,
        *,
        at: datetime,
        kind: str,
        reason: str,
        next_due: datetime | None,
        manual: bool,
        slot: datetime | None,
        tasks: list[str],
    ) -> int:
        """Insert a decision, or fold it into the previous row when it is the same skip."""
        last = self.conn.execute(
            "SELECT id, kind, reason, manual FROM heartbeat_decisions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if _folds(last, kind, reason, manual):
            self.conn.execute(
                "UPDATE heartbeat_decisions SET repeats = repeats + 1, last_at = ?, next_due = ?"
                " WHERE id = ?",
                (to_epoch(at), to_epoch(next_due), last["id"]),
            )
            return int(last["id"])
        cursor = self.conn.execute(
            "INSERT INTO heartbeat_decisions (at, last_at, kind, reason, next_due, manual, slot,"
            " tasks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                to_epoch(at),
                to_epoch(at),
                kind,
                reason,
                to_epoch(next_due),
                int(manual),
                to_epoch(slot),
                json.dumps(tasks),
            ),
        )
        return int(cursor.lastrowid)

    def mark_enqueued(self, decision_id: int, at: datetime) -> None:
        self.conn.execute(
            "UPDATE heartbeat_state SET last_run_at = ?, last_run_decision = ? WHERE id = 1",
            (to_epoch(at), decision_id),
        )

    def require_enqueued(self, decision_id: int) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT kind, slot, tasks FROM heartbeat_decisions WHERE id = ?", (decision_id,)
        ).fetchone()
        if row is None or row["kind"] != "enqueued":
            raise KeyError(f"no enqueued heartbeat decision {decision_id}")
        return row

    def finish_run(
        self,
        decision_id: int,
        outcome: str,
        detail: str,
        at: datetime,
        alert: str | None = None,
        citations: list[str] | None = None,
    ) -> None:
        """Record a run's outcome (and its alert, kept with the run); a run that did not fail
        marks its due tasks as run at the slot it served (not when it ended, which would
        stretch every task's period)."""
        row = self.require_enqueued(decision_id)
        self.conn.execute(
            "UPDATE heartbeat_decisions SET outcome = ?, outcome_at = ?, outcome_detail = ?,"
            " alert = ?, citations = ? WHERE id = ?",
            (outcome, to_epoch(at), detail, alert, json.dumps(citations or []), decision_id),
        )
        self.conn.execute(
            "UPDATE heartbeat_state SET last_outcome = ?, last_outcome_decision = ?,"
            " last_outcome_at = ?, last_outcome_detail = ? WHERE id = 1",
            (outcome, decision_id, to_epoch(at), detail),
        )
        if outcome != "failed":
            self.conn.executemany(
                "INSERT INTO heartbeat_tasks (name, last_run) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET last_run = excluded.last_run",
                [(name, row["slot"]) for name in json.loads(row["tasks"])],
            )

    def alert_seen_since(self, digest: str, since: datetime) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM heartbeat_alerts WHERE digest = ? AND at >= ?",
            (digest, to_epoch(since)),
        ).fetchone()
        return row is not None

    def remember_alert(self, digest: str, at: datetime, preview: str) -> None:
        self.conn.execute(
            "INSERT INTO heartbeat_alerts (digest, at, preview) VALUES (?, ?, ?)"
            " ON CONFLICT(digest) DO UPDATE SET at = excluded.at, preview = excluded.preview",
            (digest, to_epoch(at), preview),
        )

    def prune(self, now: datetime, retention: timedelta) -> None:
        """Forget alerts and decisions older than retention, keeping the newest 20 decisions
        for status and at most KEEP_DECISIONS in all. (Alerts outlive the 24 h dedup window
        so status can still show the last one.)"""
        self.conn.execute("DELETE FROM heartbeat_alerts WHERE at < ?", (to_epoch(now - retention),))
        self.conn.execute(
            "DELETE FROM heartbeat_decisions WHERE id NOT IN (SELECT id FROM heartbeat_decisions"
            " ORDER BY id DESC LIMIT 20) AND (last_at < ? OR id <= (SELECT MAX(id) FROM"
            " heartbeat_decisions) - ?)",
            (to_epoch(now - retention), KEEP_DECISIONS),
        )

    def decisions(self, limit: int) -> list[DecisionRow]:
        rows = self.conn.execute(
            "SELECT * FROM heartbeat_decisions ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_decision_row(row) for row in rows]

    def decision(self, decision_id: int) -> DecisionRow | None:
        """One decision, e.g. for `heartbeat run` waiting on its outcome."""
        row = self.conn.execute(
            "SELECT * FROM heartbeat_decisions WHERE id = ?", (decision_id,)
        ).fetchone()
        return None if row is None else _decision_row(row)

    def last_alert(self) -> DecisionRow | None:
        """The newest run that raised an alert (with its whole text and citations)."""
        row = self.conn.execute(
            "SELECT * FROM heartbeat_decisions WHERE outcome = 'alert' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else _decision_row(row)


def _folds(last: sqlite3.Row | None, kind: str, reason: str, manual: bool) -> bool:
    """Same scheduled skip, same reason as the newest row: count it instead of adding a row."""
    if last is None or manual or last["manual"] or kind not in FOLDABLE:
        return False
    return (last["kind"], last["reason"]) == (kind, reason)


def _decision_row(row: sqlite3.Row) -> DecisionRow:
    return DecisionRow(
        id=row["id"],
        at=from_epoch(row["at"]),
        last_at=from_epoch(row["last_at"]),
        repeats=row["repeats"],
        kind=row["kind"],
        reason=row["reason"],
        next_due=from_epoch(row["next_due"]),
        manual=bool(row["manual"]),
        slot=from_epoch(row["slot"]),
        tasks=json.loads(row["tasks"]),
        outcome=row["outcome"],
        outcome_at=from_epoch(row["outcome_at"]),
        outcome_detail=row["outcome_detail"],
        alert=row["alert"],
        citations=json.loads(row["citations"] or "[]"),
    )


class HeartbeatStore:
    """The state file (e.g. `data/heartbeat.db`); cheap to create, one connection per use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self._connect() as conn:  # a read, unless the file is new or older
            migrate(conn, [_create_schema, _add_alert_columns])

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[StateTxn]:
        """A write transaction (`BEGIN IMMEDIATE`): committed on success, rolled back on error."""
        with self._connect() as conn, immediate(conn):
            yield StateTxn(conn)

    @contextmanager
    def reading(self) -> Iterator[StateTxn]:
        """A read transaction: one consistent view, without taking the write lock."""
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                yield StateTxn(conn)
            finally:
                conn.execute("ROLLBACK")

    def snapshot(self) -> Snapshot:
        with self.reading() as txn:
            return txn.snapshot()

    def finish_run(self, decision_id: int, outcome: str, detail: str, at: datetime) -> None:
        with self.transaction() as txn:
            txn.finish_run(decision_id, outcome, detail, at)
