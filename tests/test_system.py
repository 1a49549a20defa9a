"""The whole system under honcho (the real Procfile) with the real embedded model.

The user story from the README: `honcho start`; a task posted through the API is answered by a
worker using the embedded model; an edited note is found through the API; every service logs
JSON lines; Ctrl-C stops everything cleanly. Then the faults: a worker killed with -9 in the
middle of a task, services started in either order, and databases deleted while stopped.
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
from conftest import MODEL_INT8, ROOT, write
from processes import api_client, service_env, stop_service, wait_for
from test_api import free_port
from test_services import make_home

pytestmark = pytest.mark.slow

SERVICES = [
    line.split(":")[0] for line in (ROOT / "Procfile").read_text().splitlines() if ":" in line
]


def system_env(tmp_path: Path) -> tuple:
    config = make_home(tmp_path)
    port, llm_port = free_port(), free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f"[server]\nport = {port}\n[local_llm]\nport = {llm_port}\n[llm]\nmax_tokens = 64\n"
        )
    env = service_env(
        config.home, MODEL_INT8, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    return config, env, port


class Honcho:
    """`honcho start` in its own process group, its output collected line by line."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = open(log, "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start"],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def child_pids(self) -> dict[str, int]:
        pids = {}
        for line in self.output().splitlines():
            if "started (pid=" in line:
                name = line.split("|", 1)[1].split()[0].split(".")[0]
                pids[name] = int(line.split("pid=")[1].split(")")[0])
        return pids

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> float:
        started = time.monotonic()
        os.kill(self.proc.pid, sig)
        self.proc.wait(timeout)
        self.handle.close()
        return time.monotonic() - started


def healthy_client(config, port: int, what: str = "the API to be healthy") -> httpx.Client:
    client = api_client(config.home, port)
    wait_for(lambda: healthy(client), 120, what)
    return client


def post_task(client: httpx.Client, prompt: str) -> str:
    return client.post("/api/tasks", json={"prompt": prompt}).json()["id"]


def healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/health").json()["status"] == "ok"
    except httpx.HTTPError:
        return False


def finished_task(client: httpx.Client, task_id: str, timeout: float = 240) -> dict:
    return wait_for(
        lambda: (
            (t := client.get(f"/api/tasks/{task_id}").json())["status"]
            in ("succeeded", "failed", "cancelled")
            and t
        ),
        timeout,
        "the task",
    )


def test_user_story_under_honcho(tmp_path):
    config, env, port = system_env(tmp_path)
    write(
        config.workspace_dir / "memory" / "2026-11-20.md",
        "# 20 November\n\n- Decided to plant garlic in the raised bed in October.\n",
    )
    honcho = Honcho(env, tmp_path / "honcho.log")
    try:
        client = healthy_client(config, port)
        task_id = post_task(client, "Summarise what I wrote about garlic.")
        task = finished_task(client, task_id)
        assert task["status"] == "succeeded", task
        assert task["result"].strip() and task["total_tokens"] > 0

        write(
            config.workspace_dir / "memory" / "2026-11-21.md",
            "# 21 November\n\n- The quince jam needs more lemon.\n",
        )
        wait_for(
            lambda: any(
                r["path"] == "memory/2026-11-21.md"
                for r in client.get("/api/memory/search", params={"q": "quince jam"}).json()[
                    "results"
                ]
            ),
            20,
            "the edited note in API search",
        )
        client.close()
        running = honcho.child_pids()
        assert set(running) == set(SERVICES)
    finally:
        seconds = honcho.stop(signal.SIGINT)
    assert seconds < 8, f"stopping took {seconds:.1f} s"
    for pid in running.values():
        assert not Path(f"/proc/{pid}").exists(), f"pid {pid} survived"
    lines = [
        line.split("|", 1)[1].strip()
        for line in honcho.output().splitlines()
        if "|" in line and line.split("|", 1)[1].strip().startswith("{")
    ]
    events = [json.loads(line) for line in lines]
    assert {e["service"] for e in events} >= set(SERVICES)
    for event in events:
        assert {"ts", "level", "event", "service", "pid"} <= set(event), event
    assert any(e.get("task_id") == task_id for e in events if e["service"] == "worker")
    assert "Traceback" not in honcho.output()
    assert (config.home / "token").read_text().strip() not in honcho.output()
    with sqlite3.connect(config.jobs_db) as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE state = 'running'").fetchone()[0] == 0


def test_a_worker_killed_mid_task_completes_it_once_after_restart(tmp_path):
    config, env, port = system_env(tmp_path)
    honcho = Honcho(env, tmp_path / "honcho.log")
    try:
        client = healthy_client(config, port)
        task_id = post_task(client, "Write three sentences about autumn.")
        wait_for(
            lambda: client.get(f"/api/tasks/{task_id}").json()["status"] == "running",
            120,
            "the task to start",
        )
        os.kill(honcho.child_pids()["worker"], signal.SIGKILL)
        honcho.proc.wait(20)  # honcho stops every process when one dies
    finally:
        if honcho.proc.poll() is None:
            honcho.stop()
    with sqlite3.connect(config.jobs_db) as db:
        # killed with -9, the worker could not put it back: the next one's recovery does
        assert db.execute("SELECT state FROM jobs WHERE id = ?", (task_id,)).fetchone()[0] in (
            "running",
            "succeeded",
        )
    honcho = Honcho(env, tmp_path / "honcho2.log")
    try:
        client = healthy_client(config, port, "the API to be healthy again")
        task = finished_task(client, task_id)
        assert task["status"] == "succeeded", task
        sessions = [p for p in config.sessions_dir.glob(f"task-{task_id}.jsonl")]
        transcript = [json.loads(line) for line in sessions[0].read_text().splitlines()]
        answers = [
            e
            for e in transcript
            if e.get("type") == "message" and e["message"]["role"] == "assistant"
        ]
        assert len(answers) == 1, "the task completed exactly once"
    finally:
        honcho.stop()


def test_tasks_posted_before_any_worker_runs_are_done_when_one_starts(tmp_path, services):
    config, env, port = system_env(tmp_path)
    services("lg-order-api", ["run", "api"], env, "Uvicorn running on")
    client = api_client(config.home, port)
    task_id = post_task(client, "Say hello.")
    time.sleep(1)
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "queued"
    services("lg-order-llm", ["run", "llm"], env, "Uvicorn running on")
    services("lg-order-worker", ["run", "worker"], env, "worker_ready")
    assert finished_task(client, task_id)["status"] == "succeeded"


def test_worker_before_api_and_deleted_databases_are_rebuilt(tmp_path, xprocess, services):
    config, env, port = system_env(tmp_path)
    write(config.workspace_dir / "knowledge" / "bees.md", "# Bees\n\nThe hive faces south-east.")
    names = [
        ("lg-rb-worker", ["run", "worker"], "worker_ready"),
        ("lg-rb-indexer", ["run", "indexer"], "indexer_ready"),
        ("lg-rb-api", ["run", "api"], "Uvicorn running on"),
    ]
    for name, args, ready in names:  # the worker first, the API last
        services(name, args, env, ready)
    client = api_client(config.home, port)

    def found() -> bool:
        results = client.get("/api/memory/search", params={"q": "hive south-east"}).json()
        return any(r["path"] == "knowledge/bees.md" for r in results["results"])

    wait_for(found, 60, "the note to be indexed")
    client.close()
    for name, _, _ in names:
        stop_service(xprocess, name)
    for suffix in ("", "-wal", "-shm"):
        for db in (config.memory_db, config.queue_db):
            Path(str(db) + suffix).unlink(missing_ok=True)
    for name, args, ready in reversed(names):  # now the API first
        services(name, args, env, ready)
    client = api_client(config.home, port)
    wait_for(found, 60, "the index rebuilt from the workspace")
    client.close()


def test_sigterm_stops_every_service_within_honchos_grace(tmp_path):
    config, env, port = system_env(tmp_path)
    honcho = Honcho(env, tmp_path / "honcho.log")
    healthy_client(config, port)
    pids = honcho.child_pids()
    seconds = honcho.stop(signal.SIGTERM)
    assert seconds < 6.5, f"stopping took {seconds:.1f} s (honcho kills after 5 s)"
    assert not [p for p in pids.values() if Path(f"/proc/{p}").exists()]
    assert "SIGKILL" not in honcho.output() and "Traceback" not in honcho.output()
