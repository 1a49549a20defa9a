"""What the API process holds: config, token, the model (for query vectors), queue, and the
memory DB behind a few threads of its own.

Memory routes reach the memory DB through `ApiState.in_memory`: two threads, each with one apsw
connection (connections are not shared across threads), whatever the number of concurrent
requests. (A chat's tools open one in the chat's own thread.)
Search-heavy state is shared by those connections: the vectors in memory and which terms are
too common to score (see `VectorMatrix` and `CommonTerms`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from services.api.db_threads import DbThreads
from shared.config import Config
from shared.logs import get_logger
from shared.malloc import release_free_memory
from shared.memory import CommonTerms, Memory, VectorMatrix, db, make_embedder
from shared.memory.vector_matrix import single_threaded_blas
from shared.queue import Queue
from shared.token import ensure_token

log = get_logger("api")

DB_THREADS = 2
T = TypeVar("T")


class ApiState:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.token = ensure_token(config)
        self.embedder = make_embedder(config, for_queries=True, ask_workers=True)
        # A locked ledger answers 503 within 5 s (nothing stored); a locked Huey queue file
        # leaves the job recorded, delivered by the next recovery sweep.
        self.queue = Queue(config, ledger_busy_ms=5000, huey_timeout=5.0)
        self.vectors = VectorMatrix()
        self.common_terms = CommonTerms()
        single_threaded_blas()  # many searches run at once, each product is ~1 ms
        self._local = threading.local()
        self._db_threads = DbThreads(DB_THREADS, name="memory-db")

    async def in_memory(self, work: Callable[[Memory], T]) -> T:
        """Run `work(memory)` on one of the memory-DB threads."""
        return await self.in_thread(lambda: work(self.memory()))

    async def in_thread(self, work: Callable[[], T]) -> T:
        """Run `work()` on one of the memory-DB threads (it may call `self.memory()`)."""
        return await self._db_threads.run(work)

    def memory(self) -> Memory:
        """This thread's handle (chat tools use it from the chat's own thread)."""
        memory = getattr(self._local, "memory", None)
        if memory is None:
            memory = self._local.memory = Memory(
                self.config, self.embedder, self.vectors, self.common_terms
            )
        return memory

    def warm_up_in_background(self) -> None:
        """Serve at once; the model and the in-memory vectors load meanwhile."""
        self.embedder.warm_up_in_background()
        threading.Thread(target=self._warm_up, name="api-warm-up", daemon=True).start()

    def close(self) -> None:
        self._db_threads.stop()

    def _warm_up(self) -> None:
        try:
            conn = db.connect(self.config.memory_db)
            try:
                self.vectors.refresh(conn)
            finally:
                conn.close()
            log.info("vectors_loaded", chunks=self.vectors.size)
        except Exception as exc:  # a search retries, and reports what is wrong
            log.warning("vectors_load_failed", error=str(exc))
        self.embedder.wait_for_warm_up()  # a worker answering, or the model loaded here
        release_free_memory()  # loading both left freed buffers behind
