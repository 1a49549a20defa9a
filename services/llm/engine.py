"""The embedded model's engine: llama.cpp's own server, in this process, from xllamacpp.

xllamacpp (PyPI, MIT, by Xorbits) ships llama.cpp prebuilt for Linux, macOS and Windows, so
installing it takes seconds instead of a 10-minute compile. Its server speaks the OpenAI API,
queues requests for its slot, caches the prompt prefix between turns, and cancels a generation
as soon as the HTTP client goes away (also while it is still reading the prompt, checked between
batches): that is how Stop in the page stops the model.

The engine listens on a loopback port of its own, with a random API key, so nothing but our
front server (services/llm/server.py) can use it: no page can reach it cross-site.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import LocalLLMConfig
from shared.logs import get_logger

log = get_logger(__name__)

# Prompt tokens processed between two checks for a cancelled request: small enough that a
# stop lands within a second (256 take ~0.7 s on 2 cores), large enough to keep batched matrix
# products fast (prompt reading, SmolLM2 Q8_0, 2 cores: 128 -> 331 tokens/s, 256 -> 372,
# 512 -> 389 but a stop could wait 1.3 s).
BATCH_TOKENS = 256


class EngineLoading(Exception):
    """The engine is not ready (still loading, or failed to load: the message says which)."""


@dataclass
class Engine:
    """A running llama.cpp server: where it listens and the key it wants."""

    url: str  # http://127.0.0.1:<port>
    api_key: str
    model_file: Path
    server: Any = None  # the xllamacpp.Server (kept alive while serving)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def start_engine(config: LocalLLMConfig, model_file: Path) -> Engine:
    """Load the model and start llama.cpp's server on a private loopback port."""
    from services.llm.model import ModelUnavailable

    # Idle worker threads sleep instead of spinning: on a 2-core machine shared with the API
    # and the indexer, spinning threads stall each other (generation fell to 2-8 tokens/s).
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    try:
        import xllamacpp
    except ImportError as exc:
        raise ModelUnavailable(f"xllamacpp is not installed ({exc}): pip install -e .") from None
    threads = config.threads or os.cpu_count() or 1
    params = xllamacpp.CommonParams()
    params.model.path = str(model_file)
    params.n_ctx = config.context
    params.n_batch = params.n_ubatch = BATCH_TOKENS
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cpuparams.poll = params.cpuparams_batch.poll = config.poll
    params.no_extra_bufts = not config.extra_buffers
    params.cache_ram_mib = config.prompt_cache_mb
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port; the server says which
    key = secrets.token_urlsafe(24)
    params.api_keys = [key]
    params.ui = False
    params.endpoint_slots = False
    params.verbosity = 0
    try:
        server = xllamacpp.Server(params)
    except (RuntimeError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load {model_file.name}: {exc}") from None
    address = server.listening_address
    url = address if address.startswith("http") else f"http://{address}"
    return Engine(url.rstrip("/"), key, model_file, server)


class EngineHandle:
    """The engine as the front server sees it: loading in the background, then ready (or
    failed). Requests that arrive meanwhile wait for it rather than fail: on a first start
    the weights are re-encoded, which takes a few seconds."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self.engine: Engine | None = None
        self.error: str | None = None

    def load_in_background(self, load: Callable[[], Engine]) -> None:
        def run() -> None:
            try:
                self.engine = load()
            except Exception as exc:  # reported by /health and to every request
                self.error = str(exc)
                log.error("model_load_failed", error=self.error)
            finally:
                self._ready.set()

        threading.Thread(target=run, name="engine-load", daemon=True).start()

    @classmethod
    def ready_with(cls, engine: Engine) -> EngineHandle:
        handle = cls()
        handle.engine = engine
        handle._ready.set()
        return handle

    @property
    def loading(self) -> bool:
        return not self._ready.is_set()

    def wait(self, timeout: float) -> Engine:
        """The engine, once loaded; EngineLoading if it failed or is not ready in time."""
        if not self._ready.wait(timeout):
            raise EngineLoading("the embedded model is still loading; try again in a moment")
        if self.engine is None:
            raise EngineLoading(f"the embedded model could not be loaded: {self.error}")
        return self.engine
