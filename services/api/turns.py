"""Running an assistant turn from an HTTP request: shared by `/api/chat` and `/v1/chat/...`.

A turn is synchronous code (the assistant's tool loop) and runs on a thread of its own, not the
shared pool. A client that disconnects cancels the turn's `CancelScope`, which closes the model
call's connection, so the model server stops generating at once. Turns in the same session are
serialised (one lock a session id, whichever route runs them); different sessions run
concurrently.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

_session_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def session_lock(session_id: str) -> threading.Lock:
    """The lock a turn in `session_id` holds while it runs."""
    with _locks_guard:
        return _session_locks[session_id]


async def cancel_on_disconnect(request: Request, scope) -> None:
    """Wait for the client to go away, then stop the turn (`scope`: a CancelScope)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run a long turn on a thread of its own (not the shared pool) and await its result."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    def settle(method: str, value: Any) -> None:
        if not done.done():
            getattr(done, method)(value)

    def run() -> None:
        try:
            value = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, "set_exception", exc)
        else:
            loop.call_soon_threadsafe(settle, "set_result", value)

    threading.Thread(target=run, name="chat-turn", daemon=True).start()
    return await done
