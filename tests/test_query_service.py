"""Query vectors from a worker over the local socket: same vectors, one server, safe fallbacks.

Real parts: the real model (the session `embedder`), real Unix sockets and file locks."""

from __future__ import annotations

import stat
import time

import numpy as np
import pytest

from shared.memory import make_embedder
from shared.memory.embedder import EmbedderUnavailable, model_identity
from shared.memory.query_service import (
    QueryEmbeddingClient,
    QueryEmbeddingServer,
    run_dir,
    socket_path,
)


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def serving(config, embedder):
    """A server as a worker runs it, on the real model."""
    key = model_identity(config.embedding).key
    server = QueryEmbeddingServer(config, key, embedder.embed_query)
    server.start(ready=embedder.available)
    wait_until(lambda: socket_path(config).exists())
    yield server
    server.stop()


def test_the_worker_serves_the_same_vectors_it_would_compute(config, embedder, serving):
    client = QueryEmbeddingClient(config, model_identity(config.embedding).key)
    for query in ["what did I decide about the garden", "记忆系统", "x" * 5000]:
        served = client.embed(query)
        assert served is not None and served.dtype == np.float32
        assert np.array_equal(served, embedder.embed_query(query))


def test_the_socket_is_private(config, serving):
    assert stat.S_IMODE(run_dir(config).stat().st_mode) == 0o700


def test_a_client_configured_for_another_model_does_not_use_it(config, serving):
    client = QueryEmbeddingClient(config, "some/other-model@123")
    assert client.embed("garden") is None and not client.reachable()


def test_the_api_side_asks_the_worker_and_never_loads_a_model(config, serving):
    api_side = make_embedder(config, for_queries=True, ask_workers=True)
    api_side.warm_up_in_background()
    api_side.wait_for_warm_up()
    assert api_side.available() and api_side.embed_query("garden").shape == (384,)
    assert api_side._model is None


def test_without_a_worker_the_api_side_loads_its_own_model(config, monkeypatch):
    monkeypatch.setattr(config.embedding, "query_service_wait", 0.2)
    api_side = make_embedder(config, for_queries=True, ask_workers=True)
    api_side.warm_up_in_background()
    api_side.wait_for_warm_up()
    assert api_side._model is not None and api_side.embed_query("garden").shape == (384,)


def test_a_worker_that_stops_leaves_queries_to_the_api_side(config, embedder, serving):
    """Never a search blocked on loading a model: the first query after the worker is gone gets
    "still loading" (search then uses keywords), and the model loads in the background once no
    worker has answered for `query_service_wait` seconds."""
    config.embedding.query_service_wait = 0.3
    api_side = make_embedder(config, for_queries=True, ask_workers=True)
    assert api_side.embed_query("first") is not None and api_side._model is None
    serving.stop()
    assert not socket_path(config).exists()
    started = time.monotonic()
    with pytest.raises(EmbedderUnavailable, match="still loading"):
        api_side.embed_query("second")
    assert time.monotonic() - started < 1.0 and api_side.loading
    api_side.wait_for_warm_up()
    assert api_side._model is not None and api_side.available()
    assert float(api_side.embed_query("second") @ embedder.embed_query("second")) > 0.9999


def test_one_worker_serves_and_another_takes_over_when_it_stops(config, embedder, serving):
    key = model_identity(config.embedding).key
    second = QueryEmbeddingServer(config, key, embedder.embed_query)
    second.retry_seconds = 0.05
    second.start(ready=embedder.available)
    time.sleep(0.3)
    assert not second.serving  # the first one holds the lock
    serving.stop()
    wait_until(lambda: second.serving and socket_path(config).exists())
    client = QueryEmbeddingClient(config, key)
    assert client.embed("garden") is not None
    second.stop()


def test_a_socket_left_by_a_killed_worker_is_replaced(config, embedder):
    run_dir(config).mkdir(parents=True, exist_ok=True)
    socket_path(config).write_text("stale")
    key = model_identity(config.embedding).key
    server = QueryEmbeddingServer(config, key, embedder.embed_query)
    server.start(ready=embedder.available)
    try:
        client = QueryEmbeddingClient(config, key)
        wait_until(client.reachable)
        assert client.embed("garden") is not None
    finally:
        server.stop()


def test_a_home_too_deep_for_a_socket_does_not_wait_for_a_worker(tmp_path, home):
    from shared.config import load_config

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    config = load_config(home=deep)
    config.embedding.query_service_wait = 60
    assert socket_path(config) is None
    api_side = make_embedder(config, for_queries=True, ask_workers=True)
    started = time.monotonic()
    api_side.warm_up_in_background()
    api_side.wait_for_warm_up()
    assert time.monotonic() - started < 30 and api_side._model is not None


@pytest.mark.parametrize("failure", ["slow", "error"])
def test_a_slow_or_failing_worker_is_skipped_and_the_model_loads_here(
    config, embedder, monkeypatch, failure
):
    """A starved worker (simulated: its embed function sleeps past the reply timeout) or one
    that answers with an error must not hold searches up search after search: the client backs
    off, `reachable()` says no, and the API side loads its own model in the background."""
    from shared.memory import query_service

    monkeypatch.setattr(query_service, "REPLY_TIMEOUT", 0.2)
    config.embedding.query_service_wait = 0.2

    def broken(query: str) -> np.ndarray:
        if failure == "slow":
            time.sleep(1.0)
            return embedder.embed_query(query)
        raise RuntimeError("model session lost")

    key = model_identity(config.embedding).key
    server = QueryEmbeddingServer(config, key, broken)
    server.start(ready=lambda: True)
    try:
        api_side = make_embedder(config, for_queries=True, ask_workers=True)
        wait_until(api_side.query_service.reachable)
        started = time.monotonic()
        with pytest.raises(EmbedderUnavailable, match="still loading"):
            api_side.embed_query("garden")
        assert time.monotonic() - started < 0.9
        assert not api_side.query_service.reachable()
        api_side.wait_for_warm_up()
        assert api_side._model is not None
        assert float(api_side.embed_query("garden") @ embedder.embed_query("garden")) > 0.9999
    finally:
        server.stop()


def test_a_restarted_worker_is_used_again_at_once(config, embedder, serving):
    """Issue 15: the API's connection to a worker that restarted hit the old socket
    (BrokenPipeError), backed off 30 s and loaded a model of its own. A connection the worker
    closed is now replaced at once by one to the new worker."""
    key = model_identity(config.embedding).key
    api_side = make_embedder(config, for_queries=True, ask_workers=True)
    assert api_side.embed_query("before the restart") is not None
    serving.stop()
    restarted = QueryEmbeddingServer(config, key, embedder.embed_query)
    restarted.start(ready=embedder.available)
    try:
        wait_until(lambda: restarted.serving)
        vector = api_side.embed_query("after the restart")  # the old connection is dead
        assert vector is not None and api_side._model is None and not api_side.loading
    finally:
        restarted.stop()


def test_the_api_side_drops_its_own_model_when_a_worker_serves_again(config, embedder, serving):
    config.embedding.query_service_wait = 0.2
    key = model_identity(config.embedding).key
    api_side = make_embedder(config, for_queries=True, ask_workers=True)
    assert api_side.embed_query("first") is not None
    serving.stop()  # no worker for a while: the API loads its own model
    with pytest.raises(EmbedderUnavailable):
        api_side.embed_query("second")
    api_side.wait_for_warm_up()
    assert api_side._model is not None
    back = QueryEmbeddingServer(config, key, embedder.embed_query)
    back.start(ready=embedder.available)
    try:
        started = time.monotonic()
        wait_until(lambda: api_side._model is None, seconds=10)
        assert time.monotonic() - started < 5  # the bound
        assert api_side.embed_query("third") is not None and api_side._model is None
    finally:
        back.stop()
