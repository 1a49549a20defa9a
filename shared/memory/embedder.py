"""Text embeddings with fastembed, loaded lazily and only by the processes that need them.

The model's identity (name + a fingerprint of the weights) is recorded in the index, so a change
of model is detected and never mixes vectors from two models.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.config import EmbeddingConfig
from shared.logs import get_logger
from shared.malloc import release_free_memory
from shared.memory.query_encoder import QueryEncoder, supports
from shared.memory.query_service import QueryEmbeddingClient, wait_until_reachable

QUERY_CACHE_SIZE = 512
WORKER_CHECK_SECONDS = 1.0  # while the API embeds queries itself: how often it looks for a worker
STILL_LOADING = "the embedding model is still loading"
log = get_logger("embedder")


class EmbedderUnavailable(Exception):
    """The embedding model cannot be loaded; search falls back to keywords."""


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    fingerprint: str  # weights fingerprint for a local folder, "catalogue" otherwise

    @property
    def key(self) -> str:
        return f"{self.name}@{self.fingerprint}"


def model_identity(config: EmbeddingConfig) -> ModelIdentity:
    """Identify the configured weights cheaply (size + head of model.onnx), without loading them."""
    if not config.model_path:
        return ModelIdentity(config.model, "catalogue")
    onnx = Path(config.model_path).expanduser() / "model.onnx"
    try:
        with open(onnx, "rb") as handle:
            head = handle.read(1 << 20)
        digest = hashlib.sha256(head + str(onnx.stat().st_size).encode()).hexdigest()[:16]
    except OSError:
        digest = "missing"
    return ModelIdentity(config.model, digest)


class Embedder:
    """Wraps fastembed's TextEmbedding; thread-safe, loaded on first use."""

    def __init__(
        self,
        config: EmbeddingConfig,
        cache_dir: Path | None = None,
        for_queries: bool = False,
    ) -> None:
        self.config = config
        # Set by `make_embedder(ask_workers=True)`: asked first for query vectors; the model
        # here loads only when no worker answers.
        self.query_service: QueryEmbeddingClient | None = None
        self.cache_dir = cache_dir  # where fastembed keeps catalogue downloads
        # Processes that embed only short queries (the API) skip onnxruntime's memory arena:
        # ~120 MB less resident memory for ~10% slower batches they never run.
        self.for_queries = for_queries
        self.identity = model_identity(config)
        self._model = None
        self._error: str | None = None
        self._lock = threading.Lock()
        self._query_cache: dict[str, np.ndarray] = {}  # insertion-ordered: oldest first
        self._cache_lock = threading.Lock()  # a worker's query service runs many threads
        self._warming: threading.Thread | None = None
        self._warm_up_lock = threading.Lock()
        self._watching_for_worker = False  # a thread waits to hand queries back to a worker

    @property
    def dims(self) -> int:
        return self._load().embedding_size

    def available(self) -> bool:
        """Whether vectors can be made now. Loads the model if needed (blocking), except with a
        query service (the API): a worker answering will do, and if none does the model starts
        loading here in the background (`loading`) while searches use keywords."""
        if self._model is None and self.query_service is not None:
            if self.query_service.reachable():
                return True
            self.warm_up_in_background()
            return False
        try:
            self._load()
        except EmbedderUnavailable:
            return False
        return True

    @property
    def loading(self) -> bool:
        """True while a background warm-up is still loading the model."""
        return self._warming is not None and self._warming.is_alive()

    def warm_up_in_background(self) -> None:
        """Services start at once and load the model meanwhile (a first download, or an
        offline machine's retries, can take many seconds)."""
        with self._warm_up_lock:
            if self._model is not None or self._error is not None or self.loading:
                return
            self._warming = threading.Thread(
                target=self._warm_up, name="embedder-warm-up", daemon=True
            )
            self._warming.start()

    def wait_for_warm_up(self) -> None:
        if self._warming is not None:
            self._warming.join()

    def _warm_up(self) -> None:
        """With a query service: give a worker that is starting (or taking over from one that
        stopped) time to answer first; the model loads here only when none does."""
        service = self.query_service
        if service and wait_until_reachable(service, self.config.query_service_wait):
            log.info("query_vectors_from_worker")
            return
        if service:
            log.info("query_model_loading_here", reason="no worker answered")
        with contextlib.suppress(EmbedderUnavailable):  # `error` says why
            self._load()
        if service and self._model is not None:
            self._watch_for_worker()

    def _watch_for_worker(self) -> None:
        """While this process embeds queries itself, look for a worker serving again (one
        restarted); when one answers, hand queries back and drop the model here."""
        with self._warm_up_lock:
            if self._watching_for_worker:
                return
            self._watching_for_worker = True

        def watch() -> None:
            service = self.query_service
            while service is not None and not service.reachable():
                time.sleep(WORKER_CHECK_SECONDS)
            with self._lock:  # no embed() is using the model now
                model, self._model = self._model, None
            self._watching_for_worker = False
            gone = weakref.ref(model) if model is not None else None
            del model
            # A search that read the model just before may still hold it: free its memory
            # once the last one is done, then hand the pages back to the system.
            deadline = time.monotonic() + 10
            while gone is not None and gone() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            release_free_memory()
            log.info("query_vectors_from_worker_again", model_dropped=True)

        threading.Thread(target=watch, name="embedder-worker-watch", daemon=True).start()

    @property
    def error(self) -> str | None:
        if self._error is None and self.loading:
            return STILL_LOADING
        return self._error

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed passages; returns a float32 array of shape (len(texts), dims), L2-normalised."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return self._embed_with(self._load(), texts)

    def _embed_with(self, model, texts: list[str]) -> np.ndarray:
        # Batches are padded to their longest text: grouping similar lengths roughly doubles
        # throughput on mixed-length chunks. Results go back in the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._lock:  # one ONNX session: serialise callers rather than oversubscribe cores
            vectors = list(
                model.embed([texts[i] for i in order], batch_size=self.config.batch_size)
            )
        result = np.empty((len(texts), len(vectors[0])), dtype=np.float32)
        result[order] = np.asarray(vectors, dtype=np.float32)
        return result

    def embed_query(self, text: str) -> np.ndarray:
        """Query vectors are cached: people (and pages that poll) repeat queries."""
        with self._cache_lock:
            vector = self._query_cache.get(text)
        if vector is not None:
            return vector
        model = self._model  # read once: a worker coming back may drop it meanwhile
        if model is None and self.query_service is not None:
            vector = self.query_service.embed(text)
            if vector is None:  # never block a search on loading the model here
                self.warm_up_in_background()
                raise EmbedderUnavailable(self.error or STILL_LOADING)
        elif model is not None:
            vector = self._embed_with(model, [text])[0]
        else:
            vector = self.embed([text])[0]
        with self._cache_lock:
            if len(self._query_cache) >= QUERY_CACHE_SIZE:
                self._query_cache.pop(next(iter(self._query_cache)))
            self._query_cache[text] = vector
        return vector

    def _load(self):
        if self._model is not None:
            return self._model
        if self._error is not None:
            raise EmbedderUnavailable(self._error)
        with self._lock:
            if self._model is None and self._error is None:
                self._model, self._error = _load_fastembed(
                    self.config, self.cache_dir, self.for_queries
                )
        if self._model is None:
            raise EmbedderUnavailable(self._error)
        return self._model


def _load_fastembed(config: EmbeddingConfig, cache_dir: Path | None, for_queries: bool):
    """Return (model, None) or (None, reason). Never lets an import or download error escape."""
    model_path = config.model_path and str(Path(config.model_path).expanduser())
    if model_path and not (Path(model_path) / "model.onnx").is_file():
        return None, f"no model.onnx in embedding model_path {model_path}"
    if for_queries and supports(config.model, Path(model_path) if model_path else None):
        try:
            return QueryEncoder(Path(model_path)), None
        except Exception as exc:  # a broken file: say so, as fastembed's path would
            return None, f"cannot load embedding model {config.model}: {exc}"
    try:
        from fastembed import TextEmbedding
        from loguru import logger as fastembed_logger

        fastembed_logger.disable("fastembed")  # unstructured; we log the outcome ourselves

        kwargs: dict = {"threads": config.threads or os.cpu_count() or 1}
        if for_queries:
            kwargs["enable_cpu_mem_arena"] = False
        if model_path:
            kwargs["specific_model_path"] = model_path
        elif cache_dir is not None:
            kwargs["cache_dir"] = str(cache_dir)
        return TextEmbedding(config.model, **kwargs), None
    except Exception as exc:  # fastembed raises many kinds (network, hub, onnx): "no model"
        return None, f"cannot load embedding model {config.model}: {exc.__class__.__name__}: {exc}"
