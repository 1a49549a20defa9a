"""End to end with the real embedded model: `localgpt run llm` as a real process (xprocess),
litellm talking to it, the CLI and a background task on top. No test doubles."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import tomllib

import httpx
import pytest
import tomli_w
from conftest import MODEL_INT8, ROOT, run_cli, write
from xprocess import ProcessStarter

from shared.agent.session import SessionStore
from shared.config import load_config
from shared.tasks import create_task, get_task, run_task
from shared.workspace import init_home

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def llm_port(xprocess, tmp_path_factory) -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LOCALGPT_HOME": str(tmp_path_factory.mktemp("llm-server-home")),
        "LOCALGPT_LOCAL_LLM_PORT": str(port),
    }

    def ready() -> bool:
        try:
            return httpx.get(url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    class Starter(ProcessStarter):
        args = [sys.executable, "-m", "shared.cli", "run", "llm"]
        pattern = r"Uvicorn running on"
        timeout = 120
        max_read_lines = 500
        terminate_on_interrupt = True
        popen_kwargs = {"cwd": str(ROOT)}

        def startup_check(self) -> bool:
            return ready()

    Starter.env = env
    xprocess.ensure("localgpt-llm", Starter, restart=True)
    yield port
    xprocess.getinfo("localgpt-llm").terminate()


@pytest.fixture(scope="module")
def llm_home(llm_port: int, tmp_path_factory: pytest.TempPathFactory):
    """One home for these tests, pointing at the running server, with short answers.

    Sharing it keeps the system prompt identical between tests, so llama.cpp reuses its
    evaluated prefix instead of re-reading ~1,300 prompt tokens per test on 2 cores.
    """
    home = tmp_path_factory.mktemp("e2e") / "home"
    patch = pytest.MonkeyPatch()
    for var in ("LOCALGPT_WORKSPACE", "LOCALGPT_EMBEDDING_MODEL", "LOCALGPT_LLM_MODEL"):
        patch.delenv(var, raising=False)
    patch.setenv("LOCALGPT_HOME", str(home))
    patch.setenv("LOCALGPT_EMBEDDING_MODEL_PATH", str(MODEL_INT8))
    patch.setenv("LOCALGPT_LOCAL_LLM_PORT", str(llm_port))
    init_home(load_config())
    path = home / "config.toml"
    data = tomllib.loads(path.read_text())
    data["llm"]["max_tokens"] = 32
    data["llm"]["temperature"] = 0.0
    data["llm"]["timeout"] = 900.0  # a cold prompt on a busy 2-core machine can take minutes
    path.write_text(tomli_w.dumps(data))
    yield home
    patch.undo()


def test_ask_answers_through_litellm_with_recalled_memory(llm_home):
    workspace = llm_home / "workspace"
    write(workspace / "memory" / "2026-11-20.md", "# Pets\n\nMy cat is named Pixel.\n")
    assert run_cli("memory", "reindex").returncode == 0
    done = run_cli("ask", "What is the name of my cat?", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["answer"].strip(), "the model returned text"
    assert answer["model"] == "local/smollm2-135m-instruct"
    assert answer["usage"]["completion_tokens"] > 0 and answer["usage"]["prompt_tokens"] > 100
    assert answer["profile"] == "compact"  # the small embedded model gets the short prompt
    [source] = [s for s in answer["sources"] if "Pixel" in s["text"]]
    assert source["citation"].startswith("memory/2026-11-20.md#L")
    session = SessionStore(llm_home / "sessions").open(answer["session_id"])
    user, reply = session.context_messages()
    assert user["content"] == "What is the name of my cat?"
    assert reply["content"] == answer["answer"]
    assert session.entries[-1]["sources"][0]["citation"] == source["citation"]


def test_ask_streams_plain_text_and_resumes_a_session(llm_home):
    first = run_cli("ask", "Say hello.", "--session", "e2e-chat")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip()
    second = run_cli("ask", "Say it again.", "--session", "e2e-chat")
    assert second.returncode == 0, second.stderr
    session = SessionStore(llm_home / "sessions").open("e2e-chat")
    assert [m["role"] for m in session.context_messages()] == ["user", "assistant"] * 2


def test_wrong_model_name_is_one_line(llm_home):
    done = run_cli("ask", "hi", "--model", "local/no-such-model")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert "model 'local/no-such-model' was not found" in line


def test_background_task_succeeds_and_stores_its_result(llm_home):
    config = load_config()
    task = create_task(config, "Write one short sentence about tea.")
    done = run_task(config, task.id)
    assert done.status == "succeeded", done.error
    stored = get_task(config, task.id)
    assert stored.result and stored.result.strip()
    assert stored.completion_tokens > 0 and stored.total_tokens > stored.completion_tokens
    assert stored.model_calls == 1 and stored.duration_ms > 0
    assert stored.session_id == f"task-{task.id}"
    assert (llm_home / "sessions" / f"task-{task.id}.jsonl").is_file()


def test_chat_repl_commands(llm_home):
    script = "Hello there\n/sessions\n/memory tea\n/model\n/new\n/bogus\n/quit\n"
    done = run_cli("chat", "--session", "repl-test", input=script)
    assert done.returncode == 0, done.stderr
    assert "session repl-test" in done.stdout
    assert "repl-test" in done.stdout.split("/help for commands", 1)[1]  # /sessions lists it
    assert "Model: local/smollm2-135m-instruct" in done.stdout
    assert "New session" in done.stdout
    assert "unknown command /bogus" in done.stderr
    session = SessionStore(llm_home / "sessions").open("repl-test")
    assert [m["role"] for m in session.context_messages()] == ["user", "assistant"]


def test_the_model_server_refuses_requests_for_another_host(llm_port):
    """It has no token: a rebinding page must not get to use it."""
    url = f"http://127.0.0.1:{llm_port}/v1/models"
    refused = httpx.get(url, headers={"Host": "rebound.example"}, timeout=10)
    assert refused.status_code == 400
    assert "rebound.example" in refused.json()["error"]["message"]
    assert httpx.get(url, timeout=10).status_code == 200


def test_a_cross_site_request_cannot_use_the_model(llm_port):
    """A page elsewhere can POST text/plain to loopback without a CORS preflight; browsers
    mark it with the page's Origin, which the model server refuses."""
    url = f"http://127.0.0.1:{llm_port}/v1/chat/completions"
    body = json.dumps({"messages": [{"role": "user", "content": "burn the CPU"}]})
    refused = httpx.post(
        url,
        content=body,
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        timeout=10,
    )
    assert refused.status_code == 403 and "evil.example" in refused.json()["error"]["message"]
    own_page = {"Origin": f"http://127.0.0.1:{llm_port}", "Content-Type": "application/json"}
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
    assert httpx.post(url, content=body, headers=own_page, timeout=120).status_code == 200


def test_a_client_that_leaves_stops_the_model_at_once(llm_port):
    """Disconnect while the model reads a long prompt: the engine drops the request, so the
    next one is answered at once instead of after the first one's 512 tokens."""
    url = f"http://127.0.0.1:{llm_port}/v1/chat/completions"
    notes = " ".join(f"Note {n}: the {w} is on shelf {n % 9}." for n, w in
                     enumerate(("lamp", "book", "plant", "clock", "mug", "vase") * 60))  # fmt: skip
    long = {
        "messages": [{"role": "user", "content": notes + "\nWrite a very long story."}],
        "max_tokens": 512,
        "stream": True,
        "temperature": 0.8,
    }
    with httpx.stream("POST", url, json=long, timeout=60) as response:
        assert response.status_code == 200
        # leave before the first token: the model is still reading ~2,500 prompt tokens
    started = time.monotonic()
    short = {"messages": [{"role": "user", "content": "Say yes."}], "max_tokens": 4}
    reply = httpx.post(url, json=short, timeout=120)
    took = time.monotonic() - started
    assert reply.status_code == 200
    prompt_rate = reply.json()["timings"]["prompt_per_second"]
    # Unstopped, the first request holds the only slot for its prompt (>= 2,500 tokens) and
    # 512 tokens of story: many seconds. Stopped, the short one waits at most for the batch
    # in progress and one check.
    assert took < 3.0, f"the next request waited {took:.1f} s (prompt {prompt_rate:.0f} tok/s)"
