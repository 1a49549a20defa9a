"""Chat, tasks and sessions through the real API when the model cannot be reached.

The model server is deliberately absent here (a closed port): every failure must be a clear
JSON error or a task recorded as failed with a one-line reason, never a hang or a traceback.
The happy path with the real embedded model is in test_system.py.
"""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import MODEL_INT8, run_cli
from processes import service_env, wait_for
from test_api import assert_error, free_port
from test_services import make_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(tmp_path_factory, xprocess):
    config = make_home(tmp_path_factory.mktemp("assistant-api"))
    port, dead_llm = free_port(), free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(f"[server]\nport = {port}\n[local_llm]\nport = {dead_llm}\n")
    env = service_env(config.home, MODEL_INT8)
    from processes import start_service, stop_service

    start_service(xprocess, "lg-aapi", ["run", "api"], env, "Uvicorn running on")
    start_service(xprocess, "lg-aworker", ["run", "worker"], env, "worker_ready")
    token = (config.home / "token").read_text().strip()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=60,
        headers={"Authorization": f"Bearer {token}"},
    )
    yield config, client, env
    client.close()
    stop_service(xprocess, "lg-aapi")
    stop_service(xprocess, "lg-aworker")


def test_chat_without_a_model_is_a_clear_503(api):
    _, client, _ = api
    message = assert_error(
        client.post("/api/chat", json={"message": "hello"}), 503, "llm_unavailable"
    )
    assert "\n" not in message and "Traceback" not in message
    assert "localgpt run llm" in message or "cannot reach" in message.lower()


def test_streamed_chat_without_a_model_ends_with_an_error_event(api):
    _, client, _ = api
    with client.stream("POST", "/api/chat/stream", json={"message": "hello"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [
            line.removeprefix("event: ")
            for line in response.iter_lines()
            if line.startswith("event: ")
        ]
    assert events[0] == "session" and events[-1] == "error"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "hi", "session_id": "../../etc"}, "session_id"),
        ({"message": "hi", "model": ""}, "model"),
    ],
)
def test_chat_validation(api, body, fragment):
    _, client, _ = api
    for path in ("/api/chat", "/api/chat/stream"):
        assert fragment in assert_error(client.post(path, json=body), 422, "invalid_request")


def test_a_task_without_a_model_fails_with_its_reason_recorded(api):
    _, client, env = api
    accepted = client.post("/api/tasks", json={"prompt": "Summarise my week"})
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    task_id = accepted.json()["id"]
    task = wait_for(
        lambda: (
            (t := client.get(f"/api/tasks/{task_id}").json())["status"] in ("succeeded", "failed")
            and t
        ),
        120,
        "the task to finish",
    )
    assert task["status"] == "failed" and task["error"] and "Traceback" not in task["error"]
    assert task["finished_at"] and task["started_at"]
    listed = client.get("/api/tasks", params={"status": "failed"}).json()["tasks"]
    assert task_id in [t["id"] for t in listed]
    assert "only queued or running tasks" in assert_error(
        client.delete(f"/api/tasks/{task_id}"), 409, "conflict"
    )
    assert_error(client.get("/api/tasks/nope"), 404, "not_found")
    assert_error(client.get("/api/tasks", params={"status": "weird"}), 422, "invalid_request")
    assert_error(client.post("/api/tasks", json={"prompt": ""}), 422, "invalid_request")

    shown = run_cli("task", "show", task_id, "--json", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["status"] == "failed"
    waited = run_cli("task", "add", "Another one", "--wait", "--timeout", "120", env=env)
    assert waited.returncode == 1 and "failed" in waited.stderr


def test_sessions_are_listed_shown_and_archived_not_destroyed(api):
    config, client, _ = api
    from shared.agent.session import SessionStore

    session = SessionStore(config.sessions_dir).create(
        "local/test", config.workspace_dir, "planning-1"
    )
    session.add_message({"role": "user", "content": "Plan the garden"})
    session.add_message({"role": "assistant", "content": "Start with tomatoes."})
    listed = client.get("/api/sessions").json()["sessions"]
    mine = next(s for s in listed if s["id"] == "planning-1")
    assert mine["messages"] == 2 and "Plan the garden" in mine["title"]
    shown = client.get("/api/sessions/planning-1").json()
    assert [m["content"] for m in shown["messages"]] == ["Plan the garden", "Start with tomatoes."]
    archived = client.delete("/api/sessions/planning-1").json()["archived_as"]
    assert (config.sessions_dir / archived).read_text().count("\n") == 3
    assert_error(client.get("/api/sessions/planning-1"), 404, "not_found")
    assert_error(client.get("/api/sessions/bad..id"), 400, "bad_request")


def test_status_cli_talks_to_the_api(api):
    _, _, env = api
    done = run_cli("status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"health", "memory", "heartbeat", "assistant"}
    # No model chosen and nothing better here: the embedded one answers, and status says why
    # and warns that it is the tiny one, with the command that gets a better one.
    bot = data["assistant"]
    assert bot["model"] == "local/smollm2-135m-instruct" and bot["tiny"]
    assert bot["reason"].startswith("nothing better found: no Ollama at http://127.0.0.1:9")
    assert bot["better"] == "localgpt models pull qwen2.5-1.5b"
    text = run_cli("status", env=env)
    assert "chosen because nothing better found" in text.stdout
    assert "tiny offline model" in text.stderr and "models pull qwen2.5-1.5b" in text.stderr
    assert bot["profile"]["name"] == "compact" and "compact prompt" in text.stdout
    stopped = run_cli("status", env={**env, "LOCALGPT_PORT": str(free_port())})
    assert stopped.returncode == 1 and "not running" in stopped.stderr


def test_deleting_the_same_session_five_times_in_a_second_keeps_five_archives(api):
    """Archives were named by the second: a delete/recreate round destroyed the last archive."""
    import time

    from shared.agent.session import SessionStore

    config, client, _ = api
    store = SessionStore(config.sessions_dir)
    started = time.monotonic()
    names = []
    for round_ in range(5):
        session = store.create("local/test", config.workspace_dir, "again-1")
        session.add_message({"role": "user", "content": f"round {round_}"})
        response = client.delete("/api/sessions/again-1")
        assert response.status_code == 200, response.text
        names.append(response.json()["archived_as"])
    assert time.monotonic() - started < 5  # the rounds are quick (the point: same second)
    archives = sorted(config.sessions_dir.glob("again-1.jsonl.deleted.*"))
    assert len(archives) == 5 and len(set(names)) == 5
    kept = {json.loads(a.read_text().splitlines()[1])["message"]["content"] for a in archives}
    assert kept == {f"round {i}" for i in range(5)}, "each round's transcript is kept"
