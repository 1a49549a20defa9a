"""Stopping a turn from another thread: a client that disconnects, Stop in the page, Ctrl-C,
or `DELETE` of a running task.

Whoever runs a turn passes a `CancelScope`; whoever wants it stopped calls `cancel()`. The model
call registers how to abort itself (closing its connection, so the model server stops at once),
and code between model calls checks `raise_if_cancelled()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class TurnCancelled(Exception):
    """The turn was stopped on request; nothing more is generated."""


class CancelScope:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Stop the turn: run every registered abort, once."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` on cancel (at once if already cancelled); returns an unregister."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise TurnCancelled

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
