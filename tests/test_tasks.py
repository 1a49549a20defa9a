"""Background task storage: durable rows, conditional state changes, and run_task's outcomes."""

from __future__ import annotations

import multiprocessing
import os
import socket
import sqlite3

import pytest

from shared.config import load_config
from shared.ledger import JobLedger
from shared.tasks import TaskError, cancel_task, create_task, get_task, list_tasks, run_task


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_create_get_list_and_cancel(config):
    task = create_task(config, "Summarise my week")
    assert task.status == "queued" and task.prompt == "Summarise my week"
    assert task.created_at.endswith("Z") and task.started_at is None
    other = create_task(config, "second", session_id="my-session")
    assert {t.id for t in list_tasks(config)} == {task.id, other.id}
    assert [t.id for t in list_tasks(config, "queued")] != []
    cancelled = cancel_task(config, task.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at
    with pytest.raises(TaskError, match="only queued or running tasks stop"):
        cancel_task(config, task.id)
    # a cancelled task is never started
    assert run_task(config, task.id).status == "cancelled"
    # tasks are jobs in the one ledger: no tasks.db any more
    assert not config.legacy_tasks_db.exists()
    with sqlite3.connect(config.jobs_db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        kinds = conn.execute("SELECT DISTINCT kind FROM jobs").fetchall()
    assert kinds == [("task",)]


@pytest.mark.parametrize(
    ("prompt", "session", "message"),
    [("  ", None, "empty"), ("x" * 100_001, None, "limit"), ("ok", "../x", "invalid session")],
)
def test_bad_requests_are_refused(config, prompt, session, message):
    with pytest.raises((TaskError, ValueError), match=message):
        create_task(config, prompt, session_id=session)
    assert list_tasks(config) == []


def test_unknown_task_and_status(config):
    with pytest.raises(TaskError, match="no task"):
        get_task(config, "missing")
    with pytest.raises(TaskError, match="unknown status"):
        list_tasks(config, "done")


def test_a_failing_model_marks_the_task_failed_with_a_one_line_error(config, monkeypatch):
    monkeypatch.setenv("LOCALGPT_LOCAL_LLM_PORT", str(closed_port()))
    config = load_config()
    config.agent.auto_recall = 0
    task = create_task(config, "hello?")
    done = run_task(config, task.id)
    assert done.status == "failed"
    assert "cannot reach" in done.error and "\n" not in done.error
    assert done.started_at and done.finished_at and done.duration_ms >= 0
    assert done.result is None
    # running it again (a duplicate delivery) changes nothing
    assert run_task(config, task.id) == done


def _claim_all(home: str, ids: list[str], out) -> None:
    os.environ["LOCALGPT_HOME"] = home
    ledger = JobLedger(load_config().jobs_db)
    token = ledger.register_worker()
    out.put([i for i in ids if ledger.claim(i, token)])


def test_two_workers_never_claim_the_same_task(config):
    ids = [create_task(config, f"t{i}").id for i in range(30)]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(str(config.home), ids, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    claimed = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(60)
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)
    assert not set(claimed[0]) & set(claimed[1])
    assert {t.status for t in list_tasks(config)} == {"running"}
