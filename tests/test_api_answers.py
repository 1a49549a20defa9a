"""Stop means stop, through the real API process (issue 14): a client that leaves
`POST /api/chat/stream` (Stop or Esc in the page, a closed tab) or `POST /api/chat` closes the
model call within a second, and the next question is answered at once. Also the stream's
`sources` and `reading` events, and `done` carrying the checked answer.

The model is `ScriptedServer` (tests/scripted_server.py), a real OpenAI-compatible HTTP server
standing in for a cloud model; the API, the worker, the memory and the embedding model are real.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from conftest import MODEL_INT8, write
from processes import service_env, start_service, stop_service
from scripted_server import Reply, ScriptedServer
from test_api import free_port
from test_services import make_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory, xprocess, model):
    config = make_home(tmp_path_factory.mktemp("answers-api"))
    write(config.workspace_dir / "memory" / "2026-11-28.md",
          "# 2026-11-28\n\n- Dentist appointment: Tuesday 12 May 2026 at 9:30.\n")  # fmt: skip
    port = free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f'[server]\nport = {port}\n[llm]\nmodel = "openai/{model.model}"\n'
            f'api_base = "{model.base_url}"\nprofile = "compact"\n'
        )
    env = service_env(config.home, MODEL_INT8)
    start_service(xprocess, "lg-ans-api", ["run", "api"], env, "Uvicorn running on")
    start_service(xprocess, "lg-ans-worker", ["run", "worker"], env, "worker_ready")
    token = (config.home / "token").read_text().strip()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=60,
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    client.post("/api/memory/reindex", json={})
    deadline = time.monotonic() + 60
    while "Dentist" not in json.dumps(client.get("/api/memory/search", params={"q": "dentist"})
                                      .json()):  # fmt: skip
        assert time.monotonic() < deadline, "the note was not indexed"
        time.sleep(0.2)
    yield client
    client.close()
    stop_service(xprocess, "lg-ans-api")
    stop_service(xprocess, "lg-ans-worker")


def events_of(response) -> list[tuple[str, dict]]:
    out, event = [], ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            out.append((event, json.loads(line[6:])))
    return out


def test_the_stream_shows_sources_and_reading_before_the_answer(api, model):
    model.replies = [Reply("Tuesday 12 May at 9:30 [1].")]
    with api.stream("POST", "/api/chat/stream", json={"message": "When is the dentist?"}) as r:
        events = events_of(r)
    names = [name for name, _ in events]
    assert names[:3] == ["session", "sources", "reading"] and names[-1] == "done"
    assert names.index("reading") < names.index("delta")
    source = events[1][1]["sources"][0]
    assert source["citation"].startswith("memory/2026-11-28.md#L")
    done = events[-1][1]
    assert done["response"] == f"Tuesday 12 May at 9:30 [{source['citation']}]."
    assert done["profile"] == "compact" and done["stopped"] == "answered"


@pytest.mark.parametrize("path", ["/api/chat/stream", "/api/chat"])
def test_a_client_that_leaves_stops_the_model_within_a_second(api, model, path):
    model.replies = [Reply("slow " * 100, first_token_delay=60), Reply("Right away [1].")]
    before = len(model.requests)
    model.disconnects.clear()
    with httpx.Client(base_url=str(api.base_url), headers=dict(api.headers), timeout=5) as c:
        try:
            with c.stream("POST", path, json={"message": "When is the dentist?"}):
                deadline = time.monotonic() + 30
                while len(model.requests) == before:  # the model is now "reading the prompt"
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                left = time.monotonic()
        except httpx.ReadTimeout:  # /api/chat sends nothing until the answer: leave anyway
            left = time.monotonic()
    deadline = left + 5
    while not model.disconnects and time.monotonic() < deadline:
        time.sleep(0.02)
    assert model.disconnects and model.disconnects[0] - left < 1.0
    started = time.monotonic()
    reply = api.post("/api/chat", json={"message": "When is the dentist?"})
    assert reply.status_code == 200 and "Right away" in reply.json()["response"]
    assert time.monotonic() - started < 5


def test_deleting_a_running_task_stops_its_model_call(api, model):
    model.replies = [Reply("slow " * 100, first_token_delay=60)]
    before = len(model.requests)
    model.disconnects.clear()
    task_id = api.post("/api/tasks", json={"prompt": "When is the dentist?"}).json()["id"]
    deadline = time.monotonic() + 60
    while len(model.requests) == before:  # a worker picked it up and asked the model
        assert time.monotonic() < deadline, "no worker ran the task"
        time.sleep(0.05)
    asked = time.monotonic()
    stopped = api.delete(f"/api/tasks/{task_id}")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"
    while not model.disconnects and time.monotonic() < asked + 5:
        time.sleep(0.02)
    assert model.disconnects and model.disconnects[0] - asked < 1.0
    task = api.get(f"/api/tasks/{task_id}").json()
    assert task["status"] == "cancelled" and task["error"] == "stopped while running"
