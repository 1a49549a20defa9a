"""`POST /api/chat` and `POST /api/chat/stream` (Server-Sent Events).

A turn is synchronous code (the assistant's tool loop) and runs in a thread of its own. A
client that disconnects cancels the turn's `CancelScope`, which closes the model call's
connection, so the model server stops generating at once and is free for the next request.
Turns in the same session are serialised; different sessions run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.api.errors import ApiError

router = APIRouter(prefix="/chat", tags=["chat"])

_session_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    model: str | None = Field(None, min_length=1, max_length=200)


class ChatReply(BaseModel):
    response: str
    session_id: str
    model: str
    usage: dict[str, int]
    stopped: str  # answered | length | guard | empty | iteration_cap
    notice: str  # how the reply ended, when it did not end as a whole answer
    profile: str  # full | compact
    sources: list[dict]  # the notes recalled for the answer, with their citations


def _session_lock(session_id: str) -> threading.Lock:
    with _locks_guard:
        return _session_locks[session_id]


def _open(request: Request, body: ChatRequest):
    from shared.agent.assistant import Assistant
    from shared.agent.llm import LLMError
    from shared.agent.session import SessionError
    from shared.agent.tools import ToolContext

    if not body.message.strip():
        raise ApiError(422, "message: must not be empty")
    state = request.app.state.api
    ctx = ToolContext(state.config, memory_factory=state.memory)
    try:
        return Assistant.open(state.config, body.model, body.session_id, ctx)
    except SessionError as exc:
        raise ApiError(400, str(exc)) from None
    except LLMError as exc:  # e.g. a model name without a provider, or a missing API key
        raise ApiError(422, f"model: {exc}") from None


def reply_fields(bot, result) -> dict[str, Any]:
    """What a finished turn reports (the JSON reply and the stream's `done` event)."""
    return {
        "response": result.text,
        "session_id": bot.session.id,
        "model": bot.client.model,
        "usage": result.usage,
        "stopped": result.stopped,
        "notice": result.notice,
        "profile": result.profile,
        "sources": [s.as_dict() for s in result.sources],
    }


@router.post("", response_model=ChatReply)
async def chat(request: Request, body: ChatRequest) -> dict[str, Any]:
    """One turn; returns the whole answer. Disconnecting stops it."""
    from shared.agent.assistant import MessageTooLong
    from shared.agent.cancel import CancelScope, TurnCancelled
    from shared.agent.llm import LLMError

    bot = await asyncio.to_thread(_open, request, body)
    scope = CancelScope()
    watcher = asyncio.create_task(_cancel_on_disconnect(request, scope))

    def turn():
        with _session_lock(bot.session.id):
            return bot.send(body.message, cancel=scope)

    try:
        result = await _in_thread(turn)
    except MessageTooLong as exc:
        raise ApiError(413, str(exc)) from None
    except LLMError as exc:
        raise ApiError(503, str(exc), "llm_unavailable") from None
    except TurnCancelled:
        raise ApiError(499, "the client went away; the turn was stopped", "cancelled") from None
    finally:
        watcher.cancel()
        bot.close()
    return reply_fields(bot, result)


@router.post(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_stream(request: Request, body: ChatRequest) -> StreamingResponse:
    """One turn as Server-Sent Events: session, sources, reading, delta, tool_start, tool_end,
    done | error. Closing the connection stops the turn."""
    from shared.agent.cancel import CancelScope

    bot = await asyncio.to_thread(_open, request, body)
    events: asyncio.Queue[tuple[str, dict] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    scope = CancelScope()

    def emit(event: str, data: dict) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (event, data))

    def run_turn() -> None:
        try:
            _stream_turn(bot, body.message, emit, scope)
        finally:
            bot.close()
            loop.call_soon_threadsafe(events.put_nowait, None)

    async def stream() -> AsyncIterator[str]:
        worker = threading.Thread(target=run_turn, name="chat-turn", daemon=True)
        try:
            yield _sse("session", {"session_id": bot.session.id})
            worker.start()
            while (item := await events.get()) is not None:
                yield _sse(*item)
        finally:
            scope.cancel()  # runs when the client disconnects, too

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _stream_turn(bot, message: str, emit: Callable[[str, dict], None], scope) -> None:
    """Run one turn in this thread, reporting it through `emit`; always ends with an event
    (done or error), except when the client is gone."""
    from shared.agent.assistant import MessageTooLong
    from shared.agent.cancel import TurnCancelled
    from shared.agent.llm import LLMError
    from shared.agent.loop import TurnEvents

    hooks = TurnEvents(
        on_token=lambda text: emit("delta", {"text": text}),
        on_tool_start=lambda name, args: emit("tool_start", {"name": name, "arguments": args}),
        on_tool_end=lambda o: emit("tool_end", {"name": o.name, "result": o.result}),
        on_sources=lambda sources: emit("sources", {"sources": sources}),
        on_reading=lambda tokens: emit(
            "reading", {"prompt_tokens": tokens, "model": bot.client.model}
        ),
    )
    try:
        with _session_lock(bot.session.id):
            result = bot.send(message, hooks, cancel=scope)
        emit("done", reply_fields(bot, result))
    except TurnCancelled:
        pass
    except (LLMError, MessageTooLong) as exc:
        emit("error", {"message": str(exc)})
    except Exception as exc:  # the stream must end with an event, not hang
        emit("error", {"message": f"{type(exc).__name__}: {exc}"})


async def _cancel_on_disconnect(request: Request, scope) -> None:
    """Wait for the client to go away, then stop the turn."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _in_thread(fn: Callable[[], Any]) -> Any:
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


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
