"""The HTTP API as a real uvicorn process: auth, validation, confinement, limits, errors."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import httpx
import pytest
from conftest import MODEL_INT8, run_cli, write
from processes import service_env, start_service, stop_service, wait_for
from test_services import make_home

from shared.memory import Memory

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory, xprocess, embedder):
    config = make_home(tmp_path_factory.mktemp("api"))
    write(
        config.workspace_dir / "memory" / "2026-11-02.md",
        "# 2 November\n\n- Booked the ferry to Hydra for the 14th\n- Called the plumber\n",
    )
    Memory(config, embedder).sync()
    port = free_port()
    env = service_env(config.home, MODEL_INT8)
    start_service(
        xprocess, "lg-api", ["run", "api", "--port", str(port)], env, "Uvicorn running on"
    )
    start_service(xprocess, "lg-api-worker", ["run", "worker"], env, "worker_ready")
    token = (config.home / "token").read_text().strip()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    yield config, client, env
    client.close()
    stop_service(xprocess, "lg-api")
    stop_service(xprocess, "lg-api-worker")


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]["message"]


def test_health_needs_no_token_and_reports_parts(api):
    _, client, _ = api
    body = wait_for(
        lambda: (
            (r := httpx.get(client.base_url.join("/health")).json())["checks"]["embedding_model"]
            != "loading"
            and r
        ),
        30,
        "the model to load",
    )
    assert body["status"] == "ok"
    assert body["checks"] == {"memory_db": "ok", "queue": "ok", "embedding_model": "ok"}


def test_every_api_route_needs_the_token(api):
    config, client, _ = api
    for method, path in [
        ("GET", "/api/memory/search?q=ferry"),
        ("GET", "/api/memory/stats"),
        ("POST", "/api/memory/reindex"),
        ("GET", "/api/memory/file?path=x.md"),
        ("GET", "/api/jobs/abc"),
    ]:
        missing = httpx.request(method, client.base_url.join(path))
        assert "missing bearer token" in assert_error(missing, 401, "unauthorized")
        wrong = httpx.request(
            method, client.base_url.join(path), headers={"Authorization": "Bearer not-the-token"}
        )
        assert assert_error(wrong, 401, "unauthorized") == "wrong bearer token"
    token_file = config.home / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_the_api_takes_query_vectors_from_the_worker(api, xprocess):
    """With a worker running, the API loads no embedding model of its own: one model in memory
    for the whole system, and a small API (see shared/memory/query_service.py)."""
    _, client, _ = api
    wait_for(
        lambda: httpx.get(client.base_url.join("/health")).json()["status"] == "ok",
        30,
        "the API to be healthy",
    )
    body = client.get("/api/memory/search", params={"q": "ferry booking"}).json()
    assert body["mode"] == "hybrid" and body["warnings"] == [] and body["results"]
    assert body["results"][0]["vector_score"] > 0
    maps = Path(f"/proc/{xprocess.getinfo('lg-api').pid}/maps").read_text()
    assert "onnxruntime" not in maps


def test_search_returns_cited_results(api):
    _, client, _ = api
    body = client.get("/api/memory/search", params={"q": "ferry to Hydra", "limit": 3}).json()
    assert body["query"] == "ferry to Hydra" and body["mode"] == "hybrid"
    top = body["results"][0]
    assert top["path"] == "memory/2026-11-02.md" and top["citation"] == "memory/2026-11-02.md#L1-L4"
    assert len(body["results"]) <= 3 and body["took_ms"] >= 0


def test_search_by_meaning_follows_notes_indexed_after_start(api, embedder):
    """The API keeps the vectors in memory: a note indexed by another process must be found
    by meaning alone (no shared keyword) at the next search, and gone once deleted."""
    config, client, _ = api
    note = write(
        config.workspace_dir / "knowledge" / "pets.md",
        "# Pets\n\nOur tabby kitten sleeps on the radiator all afternoon.\n",
    )
    indexer = Memory(config, embedder)
    try:
        indexer.sync()

        def hits() -> list[dict]:
            body = client.get("/api/memory/search", params={"q": "young cat napping"}).json()
            return [r for r in body["results"] if r["path"] == "knowledge/pets.md"]

        found = hits()
        assert found and found[0]["keyword_score"] == 0 and found[0]["vector_score"] > 0.3
        note.unlink()
        indexer.sync()
        assert hits() == []
    finally:
        indexer.close()


def test_the_fast_path_and_the_route_answer_alike(api, embedder):
    """Well-formed searches are answered by `SearchFastPath`; an unknown extra parameter sends the
    same search through the FastAPI route. Both must give the same body."""
    config, client, _ = api
    walks = [config.workspace_dir / "knowledge" / f"walk-{n}.md" for n in range(4)]
    for n, path in enumerate(walks):  # four files: hits in one file would merge into one span
        write(path, f"# Walk {n}\n\nThe lighthouse path, stretch {n}.\n")
    indexer = Memory(config, embedder)
    try:
        indexer.sync()
        for params, count in [({"q": "lighthouse"}, 4), ({"q": "lighthouse", "limit": 2}, 2)]:
            fast = client.get("/api/memory/search", params=params)
            route = client.get("/api/memory/search", params={**params, "via": "route"})
            assert fast.status_code == route.status_code == 200
            assert fast.headers["content-type"] == route.headers["content-type"]
            fast_body, route_body = fast.json(), route.json()
            assert fast_body.pop("took_ms") >= 0 and route_body.pop("took_ms") >= 0
            assert fast_body == route_body
            assert len(fast_body["results"]) == count
    finally:
        for path in walks:
            path.unlink()
        indexer.sync()
        indexer.close()


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({}, "q"),
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x", "limit": 10_000}, "limit"),
        ({"q": "x", "limit": "many"}, "limit"),
        ({"q": "x" * 3000}, "q"),
    ],
)
def test_search_validation(api, params, fragment):
    _, client, _ = api
    assert fragment in assert_error(
        client.get("/api/memory/search", params=params), 422, "invalid_request"
    )


def test_file_reads_are_confined_to_the_workspace(api):
    _, client, _ = api
    ok = client.get(
        "/api/memory/file", params={"path": "memory/2026-11-02.md", "from": 3, "lines": 1}
    ).json()
    assert ok["text"] == "- Booked the ferry to Hydra for the 14th" and ok["total_lines"] == 4
    for path in ("../../etc/passwd", "/etc/passwd", "memory/../../token"):
        response = client.get("/api/memory/file", params={"path": path})
        assert "outside the workspace" in assert_error(response, 403, "forbidden")
    assert_error(
        client.get("/api/memory/file", params={"path": "memory/none.md"}), 404, "not_found"
    )
    assert_error(client.get("/api/memory/file", params={"path": "a\x00b"}), 400, "bad_request")
    assert_error(
        client.get("/api/memory/file", params={"path": "0" * 3000 + ".md"}), 400, "bad_request"
    )  # found by schemathesis: ENAMETOOLONG was a 500
    assert_error(client.get("/api/memory/file", params={"path": "0" * 3000}), 403, "forbidden")
    assert_error(
        client.get("/api/memory/file", params={"path": "MEMORY.md", "from": -1}),
        422,
        "invalid_request",
    )


def test_reindex_is_queued_and_a_worker_completes_it(api):
    _, client, _ = api
    response = client.post("/api/memory/reindex", json={"force": True})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    wait_for(
        lambda: client.get(f"/api/jobs/{job_id}").json()["state"] == "succeeded",
        60,
        "the reindex job",
    )
    stats = client.get("/api/memory/stats").json()
    for key in (
        "files_indexed",
        "files_pending",
        "queue_depth",
        "jobs_failed",
        "last_reconcile_at",
        "last_watcher_event_at",
        "chunks",
    ):
        assert key in stats
    assert stats["files_pending"] == 0
    assert_error(client.get("/api/jobs/nope"), 404, "not_found")
    assert_error(
        client.post("/api/memory/reindex", json={"force": "perhaps"}), 422, "invalid_request"
    )


def test_oversized_bodies_unknown_routes_and_methods(api):
    _, client, _ = api
    big = client.post(
        "/api/memory/reindex",
        content=b'{"force": false, "pad": "' + b"x" * 1_100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(big, 413, "payload_too_large")
    assert_error(client.get("/api/nothing-here"), 404, "not_found")
    assert_error(client.delete("/api/memory/stats"), 405, "method_not_allowed")


def test_openapi_docs_are_served(api):
    _, client, _ = api
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/health",
        "/api/memory/search",
        "/api/memory/stats",
        "/api/memory/reindex",
        "/api/memory/file",
    } <= set(paths)


def test_binding_beyond_loopback_is_refused(tmp_path):
    env = {"LOCALGPT_HOME": str(tmp_path / "h")}
    for host in ("0.0.0.0", "192.168.1.10", "::"):
        done = run_cli("run", "api", "--host", host, "--port", str(free_port()), env=env)
        assert done.returncode == 2, host
        assert "allow_remote" in done.stderr and "[server]" in done.stderr


def test_no_endpoint_reveals_the_token(api):
    config, client, _ = api
    token = (config.home / "token").read_text().strip()
    for path in ("/health", "/openapi.json", "/api/memory/stats"):
        assert token not in client.get(path).text


def test_a_chunked_body_without_length_is_limited_too(api):
    _, client, _ = api

    def chunks():
        yield b'{"force": false, "pad": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    response = client.post(
        "/api/memory/reindex", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("path", ["/health", "/", "/docs", "/api/memory/search?q=ferry"])
def test_requests_for_another_host_are_refused(api, path):
    """DNS rebinding: a page whose domain resolves to 127.0.0.1 sends its own name as Host. The
    token-holding search (answered by the fast path) is refused as well as the open routes."""
    _, client, _ = api
    message = assert_error(
        client.get(path, headers={"Host": "rebound.example:31327"}), 400, "bad_request"
    )
    assert "rebound.example" in message and "loopback" in message


def test_loopback_names_are_served(api):
    _, client, _ = api
    port = client.base_url.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "app.localhost"):
        assert client.get("/health", headers={"Host": host}).status_code == 200


def test_only_notes_are_served_by_every_read_route(api, tmp_path):
    """`.git/config` (a credential URL) and `knowledge/secret.txt` were served before: the
    API, the CLI and the memory_get tool now share one rule (shared.memory.access)."""
    import os

    from shared.agent.tools import ToolContext, run_tool

    config, client, env = api
    ws = config.workspace_dir
    write(ws / ".git" / "config", "[remote]\n\turl = https://u:ghp_secret@example.com/x.git\n")
    write(ws / "knowledge" / "secret.txt", "the safe code is 4711\n")
    write(ws / "knowledge" / ".draft.md", "# a hidden draft\n")
    write(ws / ".obsidian" / "workspace.md", "# app state\n")
    os.mkfifo(ws / "knowledge" / "pipe.md")
    write(tmp_path / "outside.md", "# not yours\n")
    (ws / "knowledge" / "out.md").symlink_to(tmp_path / "outside.md")
    refused = [
        ".git/config", "knowledge/secret.txt", "knowledge/.draft.md", ".obsidian/workspace.md",
        "knowledge/pipe.md", "knowledge/out.md", str(ws / ".git" / "config"),
    ]  # fmt: skip
    ctx = ToolContext(config)
    for path in refused:
        response = client.get("/api/memory/file", params={"path": path})
        message = assert_error(response, 403, "forbidden")
        assert "ghp_secret" not in message and "4711" not in message
        cli = run_cli("memory", "get", path, env=env)
        assert cli.returncode != 0 and "refused" in cli.stderr, path
        assert "ghp_secret" not in cli.stdout + cli.stderr and "4711" not in cli.stdout
        tool = run_tool(ctx, "memory_get", {"path": path}, ("memory_get",))
        assert not tool.ok and tool.result["error"].startswith("refused"), path
    missing = client.get("/api/memory/file", params={"path": "knowledge/nothing.md"})
    assert "does not exist" in assert_error(missing, 404, "not_found")


def test_memory_update_that_removes_most_of_memory_md_needs_confirmation(api):
    config, client, _ = api
    memory_md = config.workspace_dir / "MEMORY.md"
    original = "# Memory\n\n" + "".join(f"- fact number {i} about the garden\n" for i in range(12))
    write(memory_md, original)
    refused = client.post("/api/memory/update", json={"old": original, "new": ""})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"]["code"] == "confirmation_required"
    assert body["confirm"]["removed_share"] > 0.9 and body["confirm"]["pending_edit"]
    assert memory_md.read_text() == original, "nothing changed"
    applied = client.post(f"/api/memory/pending/{body['confirm']['pending_edit']}")
    assert applied.status_code == 200, applied.text
    assert memory_md.read_text() == ""
    again = client.post(f"/api/memory/pending/{body['confirm']['pending_edit']}")
    assert_error(again, 404, "not_found")
    versions = client.get("/api/memory/history").json()
    assert versions and versions[0]["session"] == "api"
    restored = client.post("/api/memory/restore", json={"version": versions[0]["name"]})
    assert restored.status_code == 200 and memory_md.read_text() == original
    small = client.post(
        "/api/memory/update", json={"old": "fact number 3 about", "new": "fact three about"}
    )
    assert small.status_code == 200 and "fact three about" in memory_md.read_text()
    current = memory_md.read_text()
    confirmed = client.post(
        "/api/memory/update", json={"old": current, "new": "# Memory\n", "confirm": True}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert "fact number" not in memory_md.read_text()
