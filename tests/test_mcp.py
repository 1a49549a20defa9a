"""The memory over MCP (issue 19), driven by the official SDK's own client: over stdio (the
client spawns `localgpt mcp`, as Claude Desktop does) and over streamable HTTP against the
running API (`/mcp`). Every tool test runs on both transports.

Real processes (the API and a worker under xprocess, `localgpt mcp` spawned by the SDK), real
SQLite, the real embedding model; the worker's model is `ScriptedServer`, a real
OpenAI-compatible server standing in for a cloud model.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx
import httpx2
import pytest
from anyio.from_thread import start_blocking_portal
from conftest import MODEL_INT8, ROOT, run_cli, write
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from processes import service_env, start_service, stop_service, wait_for
from scripted_server import Reply, ScriptedServer
from test_api import free_port
from test_services import make_home

from shared.config import Config
from shared.memory import Memory

pytestmark = pytest.mark.slow

TOOLS = {"memory_search", "memory_get", "memory_append", "task_add", "task_status", "memory_stats"}
DENTIST = "# 2026-11-28\n\n- Dentist appointment: Tuesday 12 May 2026 at 9:30.\n- Bought bread.\n"
GARDEN = "# Garden\n\n- Build a south fence; plant tomatoes by the wall.\n"
NOTE_URI = "localgpt://workspace/"


@dataclass
class Stack:
    config: Config
    env: dict[str, str]
    url: str
    token: str


@pytest.fixture(scope="module")
def model():
    with ScriptedServer() as server:
        yield server


GIT_CONFIG = '[remote "origin"]\n\turl = https://user:ghp_secret@github.com/u/notes.git\n'


@pytest.fixture(scope="module")
def stack(tmp_path_factory, xprocess, embedder, model):
    root = tmp_path_factory.mktemp("mcp")
    config = make_home(root)
    write(config.workspace_dir / "memory" / "2026-11-28.md", DENTIST)
    write(config.workspace_dir / "knowledge" / "garden.md", GARDEN)
    write(root / "outside" / "secret.md", "# Not yours\n")
    (config.workspace_dir / "leak.md").symlink_to(root / "outside" / "secret.md")
    write(config.workspace_dir / ".git" / "config", GIT_CONFIG)  # not notes: never served
    write(config.workspace_dir / "knowledge" / "secret.txt", "the safe code is 4711\n")
    write(config.workspace_dir / ".hidden.md", "# hidden\n")
    memory = Memory(config, embedder)
    memory.sync()
    memory.close()
    port = free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f'[server]\nport = {port}\n[llm]\nmodel = "openai/{model.model}"\n'
            f'api_base = "{model.base_url}"\nprofile = "compact"\n'
        )
    # No waiting for a worker to serve query vectors: every process loads its own at once.
    env = service_env(config.home, MODEL_INT8, LOCALGPT_QUERY_SERVICE_WAIT="0")
    start_service(xprocess, "lg-mcp-api", ["run", "api"], env, "Uvicorn running on")
    start_service(xprocess, "lg-mcp-worker", ["run", "worker"], env, "worker_ready")
    token = (config.home / "token").read_text().strip()
    yield Stack(config, env, f"http://127.0.0.1:{port}", token)
    stop_service(xprocess, "lg-mcp-api")
    stop_service(xprocess, "lg-mcp-worker")


@asynccontextmanager
async def stdio_session(env: dict[str, str], errlog) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "shared.cli", "mcp"], env=env, cwd=str(ROOT)
    )
    async with stdio_client(server, errlog=errlog) as (read, write_), ClientSession(
        read, write_
    ) as session:  # fmt: skip
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (read, write_),
        ClientSession(read, write_) as session,
    ):
        await session.initialize()
        yield session


class Mcp:
    """A connected SDK client session, called from synchronous tests."""

    def __init__(self, portal, session: ClientSession, transport: str) -> None:
        self.portal, self.session, self.transport = portal, session, transport

    def __call__(self, method: str, *args):
        return self.portal.call(getattr(self.session, method), *args)

    def tool(self, name: str, arguments: dict | None = None):
        return self("call_tool", name, arguments or {})


@pytest.fixture(scope="module", params=["stdio", "http"])
def mcp(request, stack):
    with open(stack.config.home / f"mcp-{request.param}.log", "a") as errlog:
        if request.param == "stdio":
            connect = stdio_session(stack.env, errlog)
        else:
            connect = http_session(stack.url, stack.token)
        with (
            start_blocking_portal() as portal,
            portal.wrap_async_context_manager(connect) as session,
        ):
            yield Mcp(portal, session, request.param)


def error_text(result) -> str:
    assert result.is_error, result
    return result.content[0].text


# -- the tools ----------------------------------------------------------------------------------


def test_the_tools_are_listed_with_their_arguments(mcp):
    tools = {tool.name: tool for tool in mcp("list_tools").tools}
    assert set(tools) == TOOLS
    search = tools["memory_search"].input_schema
    assert search["required"] == ["query"] and set(search["properties"]) == {
        "query",
        "limit",
        "after",
        "before",
    }
    assert tools["memory_get"].input_schema["required"] == ["path"]
    assert tools["memory_search"].annotations.read_only_hint is True
    assert tools["memory_append"].annotations.read_only_hint is False


def test_search_gives_the_results_and_citations_of_the_cli(mcp, stack):
    def hybrid():  # the process's query encoder loads in the background; keywords meanwhile
        found = mcp.tool("memory_search", {"query": "when is the dentist appointment"})
        return found if found.structured_content["mode"] == "hybrid" else None

    found = wait_for(hybrid, 60, "search by meaning")
    data = found.structured_content
    assert json.loads(found.content[0].text) == data  # what a model reads is the same
    cli = run_cli("memory", "search", "when is the dentist appointment", "--json", env=stack.env)
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert [r["citation"] for r in data["results"]] == [r["citation"] for r in expected["results"]]
    assert data["results"][0]["citation"].startswith("memory/2026-11-28.md#L")
    for got, want in zip(data["results"], expected["results"], strict=True):
        assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert got["snippet"] == want["snippet"]
    limited = mcp.tool("memory_search", {"query": "dentist", "limit": 1}).structured_content
    assert len(limited["results"]) == 1
    dated = {"query": "dentist", "after": "2026-11-28", "before": "2026-11-28"}
    on_the_day = mcp.tool("memory_search", dated).structured_content["results"]
    assert on_the_day and all(r["path"] == "memory/2026-11-28.md" for r in on_the_day)
    later = mcp.tool("memory_search", {"query": "dentist", "after": "2026-11-29"})
    assert later.structured_content["results"] == []


def test_get_reads_markdown_inside_the_workspace_only(mcp):
    got = mcp.tool("memory_get", {"path": "memory/2026-11-28.md", "from_line": 3, "lines": 1})
    assert not got.is_error
    assert got.structured_content == {
        "path": "memory/2026-11-28.md", "from": 3, "to": 3, "total_lines": 4,
        "text": "- Dentist appointment: Tuesday 12 May 2026 at 9:30.",
    }  # fmt: skip
    refused = {
        "../outside/secret.md": "outside the workspace",
        "/etc/passwd.md": "outside the workspace",
        "leak.md": "outside the workspace",  # a link out of the workspace
        "/etc/passwd": "outside the workspace",
        "notes.txt": "is not a note",
        ".git/config": "is not a note",
        "knowledge/secret.txt": "is not a note",
        ".hidden.md": "is not a note",
        "memory/none.md": "does not exist",
    }
    for path, says in refused.items():
        assert says in error_text(mcp.tool("memory_get", {"path": path})), path


def test_append_adds_to_todays_daily_log(mcp, stack):
    text = f"Parked on level 3, bay 14 (via {mcp.transport})."
    written = mcp.tool("memory_append", {"text": text})
    assert not written.is_error
    path = written.structured_content["path"]
    assert re.fullmatch(r"memory/\d{4}-\d{2}-\d{2}\.md", path)
    assert text in (stack.config.workspace_dir / path).read_text()


def test_a_task_is_queued_run_by_a_worker_and_followed(mcp, model):
    model.replies = [Reply("Tuesday 12 May at 9:30 [1].")]
    added = mcp.tool("task_add", {"prompt": "When is the dentist?"})
    assert not added.is_error and added.structured_content["status"] == "queued"
    task_id = added.structured_content["id"]

    def finished():
        task = mcp.tool("task_status", {"task_id": task_id}).structured_content
        return task if task["status"] in ("succeeded", "failed", "cancelled") else None

    task = wait_for(finished, 90, "the worker to run the task")
    assert task["status"] == "succeeded", task
    assert task["result"].startswith("Tuesday 12 May at 9:30 [memory/2026-11-28.md#L")
    assert task["sources"][0]["path"] == "memory/2026-11-28.md"


def test_memory_stats_show_the_index_without_machine_paths(mcp, stack):
    stats = mcp.tool("memory_stats")
    data = stats.structured_content
    assert data["files_indexed"] >= 2 and data["workspace"] == "."
    assert data["db_path"] == "$LOCALGPT_HOME/data/memory.db"
    assert str(stack.config.home) not in stats.content[0].text


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("memory_search", {}, "query: Field required"),
        ("memory_search", {"query": 42}, "query: Input should be a valid string"),
        ("memory_search", {"query": "   "}, "must contain something to search for"),
        ("memory_search", {"query": "x" * 2001}, "query: String should have at most 2000"),
        ("memory_search", {"query": "x", "limit": 0}, "limit: Input should be greater than"),
        ("memory_search", {"query": "x", "limit": True}, "not true or false"),
        ("memory_search", {"query": "x", "limit": 2.5}, "limit: Input should be a valid integer"),
        ("memory_search", {"query": "x", "after": "soon"}, "'soon' is not a date"),
        ("memory_search", {"query": "x", "after": "2026-02", "before": "2026-01"}, "is later than"),
        ("memory_search", {"query": "x", "since": "2026-01"}, "no argument 'since'"),
        ("memory_get", {"path": "MEMORY.md", "from_line": -1}, "from_line: Input should be"),
        ("memory_get", {"path": "a\x00b.md"}, "memory_get"),
        ("memory_get", {"path": ["MEMORY.md"]}, "path: Input should be a valid string"),
        ("memory_append", {"text": ""}, "text: String should have at least 1 character"),
        ("memory_append", {"text": "   "}, "must be a non-empty string"),
        ("task_add", {"prompt": "x", "session_id": "../etc"}, "session_id: String should match"),
        ("task_status", {"task_id": "nope"}, "no task 'nope'"),
        ("memory_stats", {"verbose": True}, "memory_stats has no argument 'verbose'"),
        ("rm_rf", {}, "Unknown tool: rm_rf"),
    ],
)
def test_bad_arguments_are_mcp_errors_and_the_server_carries_on(mcp, name, arguments, says):
    message = error_text(mcp.tool(name, arguments))
    assert says in message
    assert "\n" not in message and "errors.pydantic.dev" not in message  # one clear line
    assert not mcp.tool("memory_stats").is_error  # still serving


# -- the notes as resources ---------------------------------------------------------------------


def test_the_workspace_notes_are_resources(mcp, stack):
    listed = {str(r.uri): r for r in mcp("list_resources").resources}
    dentist = NOTE_URI + "memory/2026-11-28.md"
    assert dentist in listed and NOTE_URI + "knowledge/garden.md" in listed
    assert listed[dentist].mime_type == "text/markdown"
    assert all(uri.startswith(NOTE_URI) and uri.endswith(".md") for uri in listed)
    assert NOTE_URI + "leak.md" not in listed  # its target lies outside the workspace
    assert NOTE_URI + ".hidden.md" not in listed
    read = mcp("read_resource", dentist)
    assert read.contents[0].text == DENTIST.rstrip("\n")
    assert read.contents[0].mime_type == "text/markdown"
    templates = mcp("list_resource_templates").resource_templates
    assert [t.uri_template for t in templates] == [NOTE_URI + "{+path}"]


@pytest.mark.parametrize(
    "uri",
    [
        NOTE_URI + "leak.md",
        NOTE_URI + "..%2Foutside%2Fsecret.md",
        NOTE_URI + "memory/none.md",
        NOTE_URI + "data/memory.db",
        NOTE_URI + ".git/config",
        NOTE_URI + "knowledge/secret.txt",
        NOTE_URI + ".hidden.md",
        "localgpt://elsewhere/MEMORY.md",
    ],
)
def test_reading_anything_else_is_an_mcp_error(mcp, uri):
    with pytest.raises(MCPError) as refused:
        mcp("read_resource", uri)
    assert "ghp_secret" not in str(refused.value) and "4711" not in str(refused.value)
    assert not mcp.tool("memory_stats").is_error


# -- HTTP: the token and the Host check ---------------------------------------------------------

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}},
}  # fmt: skip
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer"]
)
def test_http_without_the_token_is_401(stack, authorization):
    headers = MCP_ACCEPT | ({"Authorization": authorization} if authorization else {})
    response = httpx.post(stack.url + "/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_the_sdk_client_with_a_wrong_token_cannot_connect(stack):
    async def connect() -> None:
        async with http_session(stack.url, "wrong-token"):
            pass

    with pytest.raises(ExceptionGroup) as raised:
        anyio.run(connect)
    assert raised.group_contains(MCPError, depth=None)


def test_http_answers_only_requests_for_this_machine(stack):
    headers = MCP_ACCEPT | {"Authorization": f"Bearer {stack.token}", "Host": "evil.example"}
    response = httpx.post(stack.url + "/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 400
    ok = httpx.post(
        stack.url + "/mcp", json=INITIALIZE,
        headers=MCP_ACCEPT | {"Authorization": f"Bearer {stack.token}"},
    )  # fmt: skip
    assert ok.status_code == 200 and ok.json()["result"]["serverInfo"]["name"] == "localgpt"


# -- stdio: only protocol on stdout, and garbage does not stop it --------------------------------


def test_stdio_answers_after_garbage_and_prints_nothing_else(stack):
    lines = [
        INITIALIZE,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        "this line is not JSON",
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "memory_search", "arguments": {"query": {"$ne": 1}}}},
        {"jsonrpc": "2.0", "id": 3, "method": "no/such/method"},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
    ]  # fmt: skip
    replies: queue.Queue[str] = queue.Queue()
    with open(stack.config.home / "mcp-raw.log", "a") as errlog:
        server = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "mcp"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=errlog, text=True, env=stack.env, cwd=ROOT,
        )  # fmt: skip
        threading.Thread(
            target=lambda: [replies.put(ln) for ln in server.stdout], daemon=True
        ).start()
        try:
            for line in lines:
                server.stdin.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
                server.stdin.flush()
            answered: dict = {}
            while not {1, 2, 3, 4} <= set(answered):
                reply = json.loads(replies.get(timeout=60))  # every stdout line is protocol
                assert reply["jsonrpc"] == "2.0"
                answered[reply.get("id")] = reply
            server.stdin.close()
            assert server.wait(30) == 0  # the client closed stdin: a clean exit
        finally:
            if server.poll() is None:
                server.kill()
    assert answered[1]["result"]["serverInfo"]["name"] == "localgpt"
    assert answered[2]["result"]["isError"] is True
    assert "query: Input should be a valid string" in answered[2]["result"]["content"][0]["text"]
    assert answered[3]["error"]["message"]
    assert {tool["name"] for tool in answered[4]["result"]["tools"]} == TOOLS
    logs = (stack.config.logs_dir / "mcp.jsonl").read_text().splitlines()
    assert any('"mcp_ready"' in line for line in logs)  # logs went to the file (and stderr)
