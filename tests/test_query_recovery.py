"""Issue 15: a restarted worker must not degrade search for good. Real processes: the API
and a worker (xprocess), the real model, searches running the whole time over HTTP."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from conftest import MODEL_INT8, write
from processes import kill9, log_text, service_env, wait_for
from test_api import free_port
from test_services import make_home

pytestmark = pytest.mark.slow


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def test_hybrid_search_returns_after_a_worker_restart_and_the_api_drops_its_model(
    tmp_path, xprocess, services
):
    config = make_home(tmp_path)
    write(config.workspace_dir / "memory" / "2026-11-20.md", "# Garden\n\n- Built the fence.\n")
    port = free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(f"[server]\nport = {port}\n[embedding]\nquery_service_wait = 1.0\n")
    env = service_env(config.home, MODEL_INT8)
    services("lg-rec-worker", ["run", "worker"], env, "worker_ready")
    api_pid = services("lg-rec-api", ["run", "api"], env, "Uvicorn running on")
    token = (config.home / "token").read_text().strip()
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )  # fmt: skip
    search = lambda: client.get("/api/memory/search", params={"q": "garden fence"}).json()  # noqa: E731
    client.post("/api/memory/reindex", json={})  # no indexer here: index the note once
    wait_for(lambda: search()["mode"] == "hybrid" and search()["results"], 60, "hybrid search")
    baseline = rss_mb(api_pid)

    modes: list[tuple[float, str]] = []
    stop = threading.Event()

    def load() -> None:  # searches all along, as a page polling would
        n = 0
        while not stop.is_set():
            n += 1
            r = client.get("/api/memory/search", params={"q": f"garden fence {n % 50}"})
            modes.append((time.monotonic(), r.json()["mode"]))

    searcher = threading.Thread(target=load)
    searcher.start()
    try:
        kill9(xprocess, "lg-rec-worker")
        # No worker: after query_service_wait the API encodes queries itself, still hybrid.
        log = lambda: log_text(xprocess, "lg-rec-api")  # noqa: E731
        wait_for(lambda: "query_model_loading_here" in log(), 60, "the API to load its model")
        loaded = time.monotonic()
        wait_for(lambda: any(w > loaded and m == "hybrid" for w, m in modes[-5:]), 60, "vectors")
        assert rss_mb(api_pid) > baseline + 20  # the model's weights, here now
        with_model = rss_mb(api_pid, "RssAnon")
        services("lg-rec-worker", ["run", "worker"], env, "worker_ready")
        restarted = time.monotonic()
        log = lambda: log_text(xprocess, "lg-rec-api")  # noqa: E731
        wait_for(
            lambda: "query_vectors_from_worker_again" in log(), 30, "the API to drop its model"
        )
        dropped_after = time.monotonic() - restarted
        # The model's weights and buffers go back to the system. (onnxruntime's code stays
        # mapped once loaded: file pages, shared and reclaimable, not the process's own.)
        wait_for(lambda: rss_mb(api_pid, "RssAnon") < with_model - 15, 10, "memory to go down")
    finally:
        stop.set()
        searcher.join(30)
    assert dropped_after < 5, f"the API went back to the worker after {dropped_after:.1f} s"
    after = [mode for when, mode in modes if when > restarted + dropped_after]
    assert after and set(after) == {"hybrid"}
    assert search()["mode"] == "hybrid" and search()["results"]
