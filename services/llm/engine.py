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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import LocalLLMConfig

# Prompt tokens processed between two checks for a cancelled request: small enough that a
# stop lands within a fraction of a second, large enough to keep batched matrix products fast.
BATCH_TOKENS = 128


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
