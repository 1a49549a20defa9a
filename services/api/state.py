"""What the API process holds: config, token, the model (for query vectors), queue, and one
memory-DB connection per threadpool thread (apsw connections are not shared across threads)."""

from __future__ import annotations

import threading

from shared.config import Config
from shared.memory import Memory, make_embedder
from shared.queue import Queue
from shared.token import ensure_token


class ApiState:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.token = ensure_token(config)
        self.embedder = make_embedder(config, for_queries=True)
        self.queue = Queue(config)
        self._local = threading.local()

    def memory(self) -> Memory:
        memory = getattr(self._local, "memory", None)
        if memory is None:
            memory = self._local.memory = Memory(self.config, self.embedder)
        return memory
