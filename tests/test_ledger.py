"""The one job ledger on real SQLite files: a locked or lost queue file, a locked ledger,
idempotency keys, the import of earlier versions' records, and reads that take no lock."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from conftest import ROOT, write

from shared.agent.session import SessionStore
from shared.conversations import list_sessions
from shared.ledger import JobLedger
from shared.queue import Queue
from shared.tasks import TaskError, get_task, list_tasks, submit_task


@contextmanager
def locked(path, mode: str = "EXCLUSIVE"):
    """Another process holds a write lock on `path` until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         f"c.execute('BEGIN {mode}'); print('locked', flush=True); sys.stdin.readline()",
         str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.stdin.close()
        holder.wait(10)


def test_a_task_posted_while_the_queue_file_is_locked_is_stored_then_delivered(config):
    queue = Queue(config, huey_timeout=1.0)
    with locked(config.queue_db):
        started = time.monotonic()
        task, created = submit_task(queue, "Summarise my week")
        assert created and time.monotonic() - started < 5
        job = queue.ledger.get(task.id)
        assert job.state == "queued" and job.delivered_to is None, "stored, not yet delivered"
        assert queue.stats()["undelivered"] == 0, "within the hand-over grace"
    # The next recovery sweep (every worker runs one every few seconds) hands it over.
    queue.ledger._conn().execute("UPDATE jobs SET updated_at = updated_at - 10")
    assert queue.recover() == [task.id]
    assert queue.held_job_ids() == {task.id}
    assert queue.ledger.get(task.id).delivered_to == queue.generation


def test_a_task_posted_while_the_ledger_is_locked_is_refused_and_nothing_is_stored(config):
    queue = Queue(config, ledger_busy_ms=500)
    with locked(config.jobs_db, "IMMEDIATE"), pytest.raises(sqlite3.OperationalError):
        submit_task(queue, "Summarise my week")
    assert list_tasks(config) == [] and queue.held_job_ids() == set()


def test_reads_of_the_ledger_take_no_write_lock(config):
    Queue(config).enqueue("reconcile")
    with locked(config.jobs_db, "IMMEDIATE"):
        started = time.monotonic()
        ledger = JobLedger(config.jobs_db, busy_ms=10_000)
        assert ledger.counts() == {"queued": 1} and len(ledger.list()) == 1
        assert time.monotonic() - started < 1.0


def test_a_deleted_queue_file_loses_no_task(config):
    queue = Queue(config)
    ids = [submit_task(queue, f"task {i}")[0].id for i in range(4)]
    for suffix in ("", "-wal", "-shm"):
        config.queue_db.with_name(config.queue_db.name + suffix).unlink(missing_ok=True)
    rebuilt = Queue(config)
    assert rebuilt.generation != queue.generation
    assert rebuilt.stats()["undelivered"] == 4, "status says what waits for a delivery"
    assert sorted(rebuilt.recover()) == sorted(ids)
    assert rebuilt.held_job_ids() == set(ids)


def test_an_idempotency_key_makes_a_retried_post_return_the_same_task(config):
    queue = Queue(config)
    first, created = submit_task(queue, "Book the ferry", idempotency_key="abc-1")
    again, created_again = submit_task(queue, "Book the ferry", idempotency_key="abc-1")
    assert created and not created_again and again.id == first.id
    assert len(list_tasks(config)) == 1 and queue.held_job_ids() == {first.id}
    with pytest.raises(TaskError, match="already used for another task"):
        submit_task(queue, "Something else", idempotency_key="abc-1")
    other, created_other = submit_task(queue, "Book the ferry", idempotency_key="abc-2")
    assert created_other and other.id != first.id


def _old_tasks_db(path) -> None:
    """A tasks.db as the previous version wrote it."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """CREATE TABLE tasks (id TEXT PRIMARY KEY, prompt TEXT NOT NULL, session_id TEXT,
        model TEXT, status TEXT NOT NULL, result TEXT, error TEXT, created_at TEXT NOT NULL,
        started_at TEXT, finished_at TEXT, duration_ms INTEGER,
        prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
        total_tokens INTEGER NOT NULL DEFAULT 0, model_calls INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0, notice TEXT, sources TEXT);"""
    )
    rows = [
        ("a" * 32, "Summarise the garden", "task-" + "a" * 32, "local/m", "succeeded",
         "Garlic in October.", None, "2026-11-20T10:00:00.000Z", "2026-11-20T10:00:01.000Z",
         "2026-11-20T10:00:05.000Z", 4000, 100, 20, 120, 1, 0, None,
         json.dumps([{"citation": "memory/2026-11-20.md#L3"}])),
        ("b" * 32, "Still waiting", None, None, "queued", None, None,
         "2026-11-21T10:00:00.000Z", None, None, None, 0, 0, 0, 0, 0, None, None),
        ("c" * 32, "Was running", None, None, "running", None, None,
         "2026-11-21T11:00:00.000Z", "2026-11-21T11:00:01.000Z", None, None,
         0, 0, 0, 0, 0, None, None),
    ]  # fmt: skip
    conn.executemany(f"INSERT INTO tasks VALUES ({', '.join('?' * 18)})", rows)
    conn.commit()
    conn.close()


def test_tasks_of_the_previous_version_are_imported_once_and_kept(config):
    _old_tasks_db(config.legacy_tasks_db)
    queue = Queue(config)
    tasks = {t.id: t for t in list_tasks(config)}
    assert len(tasks) == 3
    done = tasks["a" * 32]
    assert (done.status, done.result, done.total_tokens, done.duration_ms) == (
        "succeeded", "Garlic in October.", 120, 4000
    )  # fmt: skip
    assert done.sources == [{"citation": "memory/2026-11-20.md#L3"}]
    assert done.created_at == "2026-11-20T10:00:00.000Z"
    assert done.session_id == "task-" + "a" * 32
    assert not config.legacy_tasks_db.exists()
    assert (config.data_dir / "tasks.db.imported").is_file(), "the old file is kept"
    # The queued task and the interrupted one are delivered (the latter run once more).
    assert sorted(queue.recover()) == ["b" * 32, "c" * 32]
    assert get_task(config, "c" * 32).status == "queued"
    Queue(config)  # a second start imports nothing twice
    assert len(list_tasks(config)) == 3


def test_the_sessions_list_holds_conversations_with_messages_only(config):
    store = SessionStore(config.sessions_dir)
    chat = store.create("m", config.workspace_dir)
    chat.add_message({"role": "user", "content": "hello"})
    store.create("m", config.workspace_dir)  # a chat whose first turn never happened
    queue = Queue(config)
    task, _ = submit_task(queue, "Summarise")
    run = store.create("m", config.workspace_dir, session_id=task.session_id)
    run.add_message({"role": "user", "content": "Summarise"})
    legacy = store.create("m", config.workspace_dir, session_id="heartbeat-12")
    legacy.add_message({"role": "user", "content": "HEARTBEAT"})
    write(config.sessions_dir / "notes.txt", "not a session")
    assert [s.info.id for s in list_sessions(config)] == [chat.id]
    tasks = list_sessions(config, "task")
    assert [(s.info.id, s.job_id) for s in tasks] == [(task.session_id, task.id)]
    assert [s.info.id for s in list_sessions(config, "heartbeat")] == ["heartbeat-12"]
    assert len(list_sessions(config, "all")) == 3


def test_an_unreadable_tasks_file_is_left_alone_and_tried_again(config):
    config.legacy_tasks_db.write_bytes(b"not a database" * 100)
    queue = Queue(config)  # starts all the same
    assert list_tasks(config) == [] and config.legacy_tasks_db.is_file()
    assert queue.ledger.get_meta("legacy_imported") is None
    config.legacy_tasks_db.unlink()
    _old_tasks_db(config.legacy_tasks_db)
    Queue(config)
    assert len(list_tasks(config)) == 3
