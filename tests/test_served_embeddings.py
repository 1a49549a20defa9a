"""Embeddings from a served engine: `[embedding] provider = "openai"` (or "ollama").

The server here is a real HTTP server on loopback speaking the OpenAI embeddings protocol
(`POST /v1/embeddings`) and Ollama's (`POST /api/embed`). It stands in for a remote engine
(vLLM, llama.cpp's server, LM Studio, Ollama, OpenAI itself): its vectors are deterministic
hashes of the words, so texts that share words are similar, and `seed` changes the "model"
behind the same name.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from conftest import write

from shared.config import Config
from shared.memory import Memory, make_embedder
from shared.memory import embedder as embedder_module

DIMS = 64


class EmbeddingServer:
    def __init__(self, port: int = 0) -> None:
        self.seed = "model-a"
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, **body})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vectors = [server.vector(t) for t in texts]
                if self.path == "/v1/embeddings":
                    reply = {
                        "object": "list",
                        "model": body["model"],
                        "data": [
                            {"object": "embedding", "index": n, "embedding": v}
                            for n, v in enumerate(vectors)
                        ],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                elif self.path == "/api/embed":
                    # As Ollama answers (litellm 1.106.2 fails on an answer without the count).
                    reply = {"model": body["model"], "embeddings": vectors, "prompt_eval_count": 1}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)  # bound: ready to accept
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def vector(self, text: str) -> list[float]:
        out = np.zeros(DIMS)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.sha256(f"{self.seed}:{word}".encode()).digest()
            out[digest[0] % DIMS] += 1.0 if digest[1] % 2 else -1.0
        return out.tolist()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    server = EmbeddingServer()
    yield server
    server.close()


def served(config: Config, server: EmbeddingServer, provider: str = "openai") -> Config:
    config.embedding.provider = provider
    config.embedding.model = "hash-embed"
    config.embedding.model_path = ""
    path = "/v1" if provider == "openai" else ""
    config.embedding.api_base = f"http://127.0.0.1:{server.port}{path}"
    return config


NOTES = {
    "memory/2026-11-02.md": "# 2 November\n\n- Booked the ferry to Hydra for the 14th\n",
    "knowledge/garden.md": "# Garden\n\nThe fig tree needs pruning in late winter.\n",
}


@pytest.mark.parametrize("provider", ["openai", "ollama"])
def test_a_served_model_indexes_and_answers_queries(config, workspace, server, provider):
    for path, text in NOTES.items():
        write(workspace / path, text)
    served(config, server, provider)
    memory = Memory(config, make_embedder(config, ask_workers=True))
    try:
        report = memory.sync()
        assert report.vectors_disabled is None and report.chunks_embedded > 0
        assert memory.embedder.identity.key.startswith(f"{provider}/hash-embed@")
        assert memory.embedder.query_service is None  # asked directly, not through a worker
        found = memory.search("pruning the fig tree", 3)
        assert found.mode == "hybrid" and found.warnings == []
        assert found.results[0].path == "knowledge/garden.md"
        assert found.results[0].vector_score == max(r.vector_score for r in found.results) > 0.3
        paths = {r["path"] for r in server.requests}
        assert paths == ({"/v1/embeddings"} if provider == "openai" else {"/api/embed"})
        assert all(r["model"] == "hash-embed" for r in server.requests)
        # Chunks went over in batches, not one request per chunk.
        assert len(server.requests) < report.chunks_embedded
    finally:
        memory.close()


def test_prefixes_reach_the_server_and_are_part_of_the_identity(config, workspace, server):
    write(workspace / "knowledge" / "garden.md", NOTES["knowledge/garden.md"])
    served(config, server)
    plain_key = make_embedder(config).identity.key
    config.embedding.query_prefix, config.embedding.document_prefix = "query: ", "passage: "
    memory = Memory(config)
    try:
        assert memory.embedder.identity.key != plain_key
        memory.sync()
        memory.search("fig", 1)
        inputs = [text for r in server.requests for text in r["input"]]
        assert any(t.startswith("passage: ") and "fig tree" in t for t in inputs)
        assert "query: fig" in inputs
    finally:
        memory.close()


def test_vectors_of_two_models_never_mix(config, workspace, server, monkeypatch):
    """Changing provider rebuilds; so does a model that changed behind the same name (its
    probe vector differs): searches refuse the old vectors until the rebuild."""
    monkeypatch.setattr(embedder_module, "PROBE_RECHECK_SECONDS", 0.0)
    for path, text in NOTES.items():
        write(workspace / path, text)
    local = Memory(config)
    local.sync()
    local.close()

    memory = Memory(served(config, server))
    try:
        report = memory.sync()
        assert report.model_rebuild and "changed from sentence-transformers" in report.model_rebuild
        assert memory.search("ferry to Hydra", 3).mode == "hybrid"

        server.seed = "model-b"  # another model answers under the same name
        stale = memory.search("ferry to Hydra", 3)
        assert stale.mode == "keyword"
        assert any("changed since the index was built" in w for w in stale.warnings)
        assert stale.results[0].path == "memory/2026-11-02.md"  # keywords still answer

        report = memory.sync()
        assert report.model_rebuild and "gives other vectors" in report.model_rebuild
        assert report.chunks_embedded > 0  # not served from the old model's cache
        fresh = memory.search("ferry to Hydra", 3)
        assert fresh.mode == "hybrid" and fresh.warnings == []
    finally:
        memory.close()


def test_an_unreachable_server_leaves_keyword_search_until_it_is_back(
    config, workspace, server, monkeypatch
):
    write(workspace / "memory" / "2026-11-02.md", NOTES["memory/2026-11-02.md"])
    served(config, server)
    port = server.port
    server.close()  # nothing listens there any more
    memory = Memory(config)
    try:
        report = memory.sync()
        assert report.vectors_disabled and f"127.0.0.1:{port}" in report.vectors_disabled
        found = memory.search("ferry", 3)
        assert found.mode == "keyword" and found.results
        assert any("embedding server" in w for w in found.warnings)

        server.__init__(port)  # the engine is back at the same address
        assert memory.search("ferry", 3).mode == "keyword"
        assert server.requests == []  # not asked again at once: searches never wait on it
        monkeypatch.setattr(embedder_module, "SERVED_RETRY_SECONDS", 0.0)
        assert memory.sync().vectors_disabled is None
        assert memory.search("ferry", 3).mode == "hybrid"
    finally:
        memory.close()


def test_a_misconfigured_provider_says_what_to_set(config, workspace):
    config.embedding.provider = "openai"
    config.embedding.model_path = ""
    memory = Memory(config)
    try:
        assert "api_base" in memory.sync().vectors_disabled
        config.embedding.provider = "cohere-ish"
        other = Memory(config)
        assert "unknown embedding provider" in other.sync().vectors_disabled
        other.close()
    finally:
        memory.close()
