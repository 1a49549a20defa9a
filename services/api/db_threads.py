"""A few threads that run the event loop's blocking memory-DB work, with the lightest handoff.

`loop.run_in_executor` goes through concurrent.futures (a future, a work item, an idle-thread
semaphore) and then asyncio's `wrap_future` (a second future, and callbacks copying the result
across): a twentieth of the event loop's time per search. Here a job is (work, the awaiting
asyncio future, its loop) on a queue, and the thread settles the future with one
`call_soon_threadsafe`. Each thread keeps its own state (`threading.local`), such as its DB
connection. After `stop`, a job queued or submitted fails with `ThreadsStopped`: no request
waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = None


class ThreadsStopped(RuntimeError):
    """The API is shutting down: its memory-DB threads take no more work."""


class DbThreads:
    def __init__(self, count: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stopping = False
        self._lock = threading.Lock()  # no job is queued behind the stop markers unseen
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}_{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` on one of the threads; its result, or its exception raised here."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            if self._stopping:
                raise ThreadsStopped("the memory-DB threads have stopped")
            self._jobs.put((work, future, loop))
        return await future

    def stop(self) -> None:
        """The threads finish the job in hand and end; jobs still queued fail."""
        with self._lock:
            self._stopping = True
            for _ in self._threads:
                self._jobs.put(_STOP)  # behind every queued job: each is settled first

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            work, future, loop = job
            if future.cancelled():  # the request went away while queued
                continue
            if self._stopping:
                outcome = (False, ThreadsStopped("the API is shutting down"))
            else:
                try:
                    outcome = (True, work())
                except BaseException as exc:  # as an executor would: the caller decides
                    outcome = (False, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody awaits it
                loop.call_soon_threadsafe(_settle, future, outcome)


def _settle(future: asyncio.Future, outcome: tuple[bool, Any]) -> None:
    if future.done():  # cancelled while the work ran
        return
    succeeded, value = outcome
    if succeeded:
        future.set_result(value)
    else:
        future.set_exception(value)
