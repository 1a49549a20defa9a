"""Text embeddings, loaded lazily and only by the processes that need them.

`[embedding] provider` picks who makes them: fastembed in this process (the default), or a
served engine through litellm's embedding API: any OpenAI-compatible endpoint ("openai") or
Ollama ("ollama"), for a bigger model or a shared machine.

The model's identity (name + a fingerprint of the weights; for a served model, of where it is
served) is recorded in the index, so a change of model is detected and never mixes vectors from
two models. A served model could change behind the same name: a probe text's vector is stored
with the index and compared again by every sync and, once a minute, by searches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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
NOT_HERE = (
    "no worker serves query vectors and {model} is not on this machine: start the system "
    "(`localgpt daemon start`), or set LOCALGPT_EMBEDDING_MODEL_PATH"
)
PROVIDERS = ("fastembed", "openai", "ollama")
PROBE_TEXT = "LocalGPT embedding probe: the quick brown fox jumps over the lazy dog."
PROBE_MIN_COSINE = 0.99  # the same model gives the same probe vector, up to float noise
PROBE_RECHECK_SECONDS = 60.0
SERVED_RETRY_SECONDS = 30.0  # after a served engine failed to answer
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
    """Identify the configured weights cheaply (size + head of model.onnx), without loading them;
    a served model by provider, name and server. Text prefixes change the vectors: they are
    part of the identity when set."""
    name = config.model
    if config.query_prefix or config.document_prefix:
        name += f"|q={config.query_prefix!r}|d={config.document_prefix!r}"
    if config.provider != "fastembed":
        where = f"{config.provider}:{_api_base(config)}"
        return ModelIdentity(
            f"{config.provider}/{name}", hashlib.sha256(where.encode()).hexdigest()[:16]
        )
    if not config.model_path:
        return ModelIdentity(name, "catalogue")
    onnx = Path(config.model_path).expanduser() / "model.onnx"
    try:
        with open(onnx, "rb") as handle:
            head = handle.read(1 << 20)
        digest = hashlib.sha256(head + str(onnx.stat().st_size).encode()).hexdigest()[:16]
    except OSError:
        digest = "missing"
    return ModelIdentity(name, digest)


class Embedder:
    """Wraps fastembed's TextEmbedding; thread-safe, loaded on first use."""

    def __init__(
        self,
        config: EmbeddingConfig,
        cache_dir: Path | None = None,
        for_queries: bool = False,
        local_only: bool = False,
    ) -> None:
        self.config = config
        # Only model files already on this machine, never a download (one-shot commands).
        self.local_only = local_only
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
        self._probe_checked: tuple[float, str | None, str | None] | None = None
        self._failed_at = 0.0  # a served engine that did not answer is asked again later

    def _retry_due(self) -> bool:
        """A missing model file stays missing; a server may come back: ask it again."""
        return self.served and time.monotonic() - self._failed_at >= SERVED_RETRY_SECONDS

    @property
    def served(self) -> bool:
        """Whether the vectors come from a served engine (openai/ollama), not this process."""
        return self.config.provider != "fastembed"

    def probe(self) -> list[float] | None:
        """A served model's vector for a fixed text (None for in-process models, whose weights
        the identity already fingerprints)."""
        if not self.served:
            return None
        vector = self._embed_raw([PROBE_TEXT])[0]
        return [round(float(x), 6) for x in vector]

    def check_probe(self, stored: str | None) -> str | None:
        """Why a served model's vectors must not be used with an index whose stored probe is
        `stored` (the model changed behind its name), or None. Checked once a minute."""
        if not self.served or stored is None:
            return None
        now = time.monotonic()
        cached = self._probe_checked
        if cached is not None and cached[1] == stored and now - cached[0] < PROBE_RECHECK_SECONDS:
            return cached[2]
        try:
            reason = (
                None
                if probes_match(stored, self.probe())
                else (
                    f"the model served as {self.identity.name} changed since the index was built;"
                    " run `localgpt memory reindex`"
                )
            )
        except EmbedderUnavailable as exc:
            reason = str(exc)
        self._probe_checked = (now, stored, reason)
        return reason

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
        prefix = self.config.document_prefix
        return self._embed_raw([prefix + t for t in texts] if prefix else texts)

    def _embed_raw(self, texts: list[str]) -> np.ndarray:
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
            vector = self._embed_with(model, [self.config.query_prefix + text])[0]
        else:
            vector = self._embed_raw([self.config.query_prefix + text])[0]
        with self._cache_lock:
            if len(self._query_cache) >= QUERY_CACHE_SIZE:
                self._query_cache.pop(next(iter(self._query_cache)))
            self._query_cache[text] = vector
        return vector

    def _load(self):
        if self._model is not None:
            return self._model
        if self._error is not None and not self._retry_due():
            raise EmbedderUnavailable(self._error)
        with self._lock:
            if self._model is None and (self._error is None or self._retry_due()):
                if self.served:
                    self._model, self._error = _load_served(self.config)
                    self._failed_at = time.monotonic()
                else:
                    self._model, self._error = _load_fastembed(
                        self.config, self.cache_dir, self.for_queries, self.local_only
                    )
        if self._model is None:
            raise EmbedderUnavailable(self._error)
        return self._model


def probes_match(stored: str, current: list[float] | None) -> bool:
    """Whether a stored probe vector (JSON) and a fresh one come from the same model."""
    if current is None:
        return True
    try:
        old = np.asarray(json.loads(stored), dtype=np.float32)
    except (ValueError, TypeError):
        return False
    new = np.asarray(current, dtype=np.float32)
    if old.shape != new.shape:
        return False
    norms = float(np.linalg.norm(old) * np.linalg.norm(new)) or 1.0
    return float(old @ new) / norms >= PROBE_MIN_COSINE


def _api_base(config: EmbeddingConfig) -> str:
    base = config.api_base.strip().rstrip("/")
    if not base and config.provider == "ollama":
        base = "http://localhost:11434"
    return base


class ServedEmbeddings:
    """An embeddings endpoint (OpenAI-compatible or Ollama) behind fastembed's `embed`
    signature, through litellm. Vectors are returned L2-normalised, in input order."""

    def __init__(self, config: EmbeddingConfig) -> None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch on import
        import litellm

        litellm.suppress_debug_info = True  # no "Give Feedback" banners on stdout
        self._litellm = litellm
        self.config = config
        self.model = f"{config.provider}/{config.model}"
        self.api_base = _api_base(config) or None
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if config.provider == "openai" and key is None and self.api_base:
            key = "none"  # local OpenAI-compatible servers need no key; the client wants one
        self.api_key = key
        self.embedding_size = len(self._call([PROBE_TEXT])[0])

    def embed(self, texts: list[str], batch_size: int = 32):
        for start in range(0, len(texts), max(1, batch_size)):
            yield from self._call(texts[start : start + max(1, batch_size)])

    def _call(self, texts: list[str]) -> list[np.ndarray]:
        try:
            response = self._litellm.embedding(
                model=self.model,
                input=texts,
                api_base=self.api_base,
                api_key=self.api_key,
                timeout=self.config.timeout,
            )
        except Exception as exc:  # litellm maps every failure to its own exception types
            raise EmbedderUnavailable(
                f"embedding server {self.api_base or self.config.provider} failed: "
                f"{exc.__class__.__name__}: {str(exc)[:300]}"
            ) from exc
        data = sorted(response.data, key=lambda item: _field(item, "index"))
        vectors = [np.asarray(_field(item, "embedding"), dtype=np.float32) for item in data]
        if len(vectors) != len(texts):
            raise EmbedderUnavailable(
                f"embedding server returned {len(vectors)} vectors for {len(texts)} texts"
            )
        return [v / (np.linalg.norm(v) or 1.0) for v in vectors]


def _field(item, name: str):
    return item[name] if isinstance(item, dict) else getattr(item, name)


def _load_served(config: EmbeddingConfig):
    """Return (model, None) or (None, reason): a served engine answering a probe."""
    if config.provider not in PROVIDERS:
        return None, (
            f"unknown embedding provider {config.provider!r}; use one of {', '.join(PROVIDERS)}"
        )
    if config.provider == "openai" and not config.api_base and not config.api_key_env:
        return None, "the openai embedding provider needs [embedding] api_base or api_key_env"
    try:
        return ServedEmbeddings(config), None
    except EmbedderUnavailable as exc:
        return None, str(exc)
    except Exception as exc:  # an import problem: say so, never crash a search
        return None, f"cannot use embedding provider {config.provider}: {exc}"


def _load_fastembed(
    config: EmbeddingConfig, cache_dir: Path | None, for_queries: bool, local_only: bool = False
):
    """Return (model, None) or (None, reason). Never lets an import or download error escape.
    `local_only`: a model not already on this machine is not downloaded (reason: NOT_HERE)."""
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
        if local_only and not model_path:
            kwargs["local_files_only"] = True
        return TextEmbedding(config.model, **kwargs), None
    except Exception as exc:  # fastembed raises many kinds (network, hub, onnx): "no model"
        if local_only and not model_path and isinstance(exc, ValueError):  # not downloaded
            return None, NOT_HERE.format(model=config.model)
        return None, f"cannot load embedding model {config.model}: {exc.__class__.__name__}: {exc}"
