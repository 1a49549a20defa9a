"""Background work through real processes (API, worker, heartbeat) and real SQLite files:
the two ways tasks used to be stranded, cancel of a queued task, and scheduled runs through a
missed slot, `kill -9` and SIGINT of the worker mid-run.

The model is `ScriptedServer` (a real OpenAI-compatible server in the test process), so runs
take milliseconds and a slow reply keeps a run "running" for as long as a test needs.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_INT8, ROOT, run_cli
from processes import kill9, service_env, start_service, stop_service, wait_for
from scripted_server import Reply, ScriptedServer
from test_api import free_port
from test_services import make_home

from shared.ledger import JobLedger

pytestmark = pytest.mark.slow

FINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def model():
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def system(tmp_path, model, xprocess):
    """A home whose model is the scripted server; start(name) runs api / worker / heartbeat."""
    config = make_home(tmp_path)
    port = free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f'[server]\nport = {port}\n[llm]\nmodel = "openai/{model.model}"\n'
            f'api_base = "{model.base_url}"\nprofile = "compact"\n[agent]\nauto_recall = 0\n'
            '[heartbeat]\ninterval = "0"\n'
        )
    env = service_env(config.home, MODEL_INT8)
    model.replies.clear()
    model.requests.clear()
    started: list[str] = []
    ready = {"api": "Uvicorn running on", "worker": "worker_ready", "heartbeat": "heartbeat_ready"}

    class System:
        def __init__(self) -> None:
            self.config, self.env, self.port = config, env, port

        def start(self, what: str) -> None:
            name = f"lg-jobs-{what}"
            started.append(name)
            start_service(xprocess, name, ["run", what], env, ready[what])

        def stop(self, what: str) -> None:
            stop_service(xprocess, f"lg-jobs-{what}")

        def kill9(self, what: str) -> None:
            kill9(xprocess, f"lg-jobs-{what}")

        def pid(self, what: str) -> int:
            return xprocess.getinfo(f"lg-jobs-{what}").pid

        def client(self) -> httpx.Client:
            token = (config.home / "token").read_text().strip()
            return httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                timeout=60,
                headers={"Authorization": f"Bearer {token}"},
            )

        def ledger(self) -> JobLedger:
            return JobLedger(config.jobs_db)

    yield System()
    for name in started:
        stop_service(xprocess, name)


def finished(client: httpx.Client, task_id: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (t := client.get(f"/api/tasks/{task_id}").json())["status"] in FINAL and t,
        timeout,
        f"task {task_id} to finish",
    )


def hold_lock(path: Path, mode: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         f"c.execute('BEGIN {mode}'); print('locked', flush=True); sys.stdin.readline()",
         str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(10)


def test_tasks_posted_while_a_file_is_locked_are_delivered_or_refused_with_nothing_stored(
    system, model
):
    """Stranding case 1: the queue locked for 20 s used to leave a stored task never run."""
    model.replies = [Reply(f"Done {i}.") for i in range(4)]
    system.start("api")
    system.start("worker")
    client = system.client()
    outcomes = []
    holder = hold_lock(system.config.queue_db, "EXCLUSIVE")  # Huey's queue file
    try:
        for i in range(2):
            started = time.monotonic()
            response = client.post("/api/tasks", json={"prompt": f"queue locked {i}"})
            outcomes.append((response.status_code, response.json()))
            assert time.monotonic() - started < 8
    finally:
        release(holder)
    holder = hold_lock(system.config.jobs_db, "IMMEDIATE")  # the ledger itself
    try:
        response = client.post("/api/tasks", json={"prompt": "ledger locked"})
        outcomes.append((response.status_code, response.json()))
    finally:
        release(holder)
    stored = {t["id"] for t in client.get("/api/tasks").json()["tasks"]}
    for status, body in outcomes:
        if status == 202:  # stored: it must run
            assert body["id"] in stored
            assert finished(client, body["id"])["status"] == "succeeded"
        else:  # refused: a clear 503, and nothing stored
            assert status == 503 and "nothing was stored" in body["error"]["message"]
    assert [s for s, _ in outcomes] == [202, 202, 503]
    assert len(stored) == 2
    jobs = client.get("/api/jobs", params={"state": "queued"}).json()["jobs"]
    assert jobs == []


def test_tasks_posted_with_only_the_api_survive_a_deleted_queue_file(system, model):
    """Stranding case 2: 4 tasks posted while only the API ran, then `data/queue.db*` deleted
    and the system started: all 4 used to stay queued forever."""
    model.replies = [Reply(f"Answer {i}.") for i in range(4)]
    system.start("api")
    client = system.client()
    ids = [client.post("/api/tasks", json={"prompt": f"p{i}"}).json()["id"] for i in range(4)]
    client.close()
    system.stop("api")
    for suffix in ("", "-wal", "-shm"):
        Path(str(system.config.queue_db) + suffix).unlink(missing_ok=True)
    system.start("api")
    system.start("worker")
    client = system.client()
    assert [finished(client, i)["status"] for i in ids] == ["succeeded"] * 4
    assert len(model.requests) == 4, "each ran once"
    status = json.loads(
        run_cli("jobs", "list", "--state", "queued", "--json", env=system.env).stdout
    )
    assert status == []


def test_a_cancelled_queued_task_never_runs(system, model):
    model.replies = [Reply("The second one.")]
    system.start("api")
    client = system.client()
    first = client.post("/api/tasks", json={"prompt": "never mind"}).json()["id"]
    cancelled = client.delete(f"/api/tasks/{first}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    second = client.post("/api/tasks", json={"prompt": "this one"}).json()["id"]
    system.start("worker")
    assert finished(client, second)["status"] == "succeeded"
    assert len(model.requests) == 1, "the cancelled task never reached the model"
    assert client.get(f"/api/jobs/{first}").json()["state"] == "cancelled"
    again = client.delete(f"/api/tasks/{first}")
    assert again.status_code == 409


def _miss_a_slot(config, name: str) -> None:
    """As if the system was down when the schedule's slot came: it is two hours late."""
    with sqlite3.connect(config.jobs_db) as db:
        db.execute(
            "UPDATE schedules SET next_run = ?, anchor = ? WHERE name = ?",
            (time.time() - 7200, time.time() - 7200, name),
        )


def cron_runs(system) -> list:
    return system.ledger().list(kind="cron")


def test_a_missed_run_runs_once_at_start_and_once_more_after_kill_9(system, model):
    done = run_cli("cron", "add", "Check the backups", "--every", "1h", "--name", "backups",
                   env=system.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    _miss_a_slot(system.config, "backups")
    model.replies = [Reply("slow " * 50, first_token_delay=60), Reply("Backups are fine.")]
    system.start("worker")
    system.start("heartbeat")  # the missed slot runs once, at start
    [run] = wait_for(lambda: [j for j in cron_runs(system) if j.state == "running"], 60, "a run")
    assert run.args["missed"] and run.session_id == f"cron-{run.id}"
    wait_for(lambda: model.requests, 30, "the run to ask the model")
    system.kill9("worker")  # mid-run
    system.start("worker")
    final = wait_for(
        lambda: (j := system.ledger().get(run.id)).state in FINAL and j, 60, "the run again"
    )
    assert final.state == "succeeded" and final.attempts == 2, final
    assert final.result == "Backups are fine."
    assert len(cron_runs(system)) == 1, "the slot was fired once"
    schedule = json.loads(run_cli("cron", "show", "backups", "--json", env=system.env).stdout)
    assert schedule["runs"] == 1 and schedule["next_run"]
    transcript = (system.config.sessions_dir / f"cron-{run.id}.jsonl").read_text().splitlines()
    answers = [
        e for e in map(json.loads, transcript)
        if e.get("type") == "message" and e["message"]["role"] == "assistant"
    ]  # fmt: skip
    assert len(answers) == 1
    listed = json.loads(run_cli("jobs", "show", run.id, "--json", env=system.env).stdout)
    assert listed["state"] == "succeeded" and listed["schedule_id"] == schedule["id"]


def test_sigint_during_a_run_puts_it_back_and_it_runs_once_more(system, model):
    assert run_cli("cron", "add", "Tidy", "--every", "1h", "--name", "tidy", env=system.env)
    model.replies = [Reply("slow " * 50, first_token_delay=60), Reply("Tidied.")]
    system.start("worker")
    ran = run_cli("cron", "run-now", "tidy", env=system.env)
    assert ran.returncode == 0, ran.stderr
    [run] = wait_for(lambda: [j for j in cron_runs(system) if j.state == "running"], 60, "a run")
    wait_for(lambda: model.requests, 30, "the run to ask the model")
    os.kill(system.pid("worker"), signal.SIGINT)
    back = wait_for(
        lambda: (j := system.ledger().get(run.id)).state != "running" and j, 30, "a clean stop"
    )
    assert back.state == "queued" and "shutdown" in back.last_error, "not shown as running"
    system.start("worker")
    final = wait_for(
        lambda: (j := system.ledger().get(run.id)).state in FINAL and j, 60, "the run again"
    )
    assert (final.state, final.attempts, final.result) == ("succeeded", 2, "Tidied.")
