"""`POST /api/chat` and `POST /api/chat/stream` (Server-Sent Events).

A turn is synchronous code (the assistant's tool loop); streaming runs it in a thread that feeds
an async queue. A client that disconnects sets a flag that aborts generation at the next token.
Turns in the same session are serialised; different sessions run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
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


class TurnCancelled(Exception):
    """The client went away: stop generating."""


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


@router.post("", response_model=ChatReply)
def chat(request: Request, body: ChatRequest) -> dict[str, Any]:
    """One turn; returns the whole answer."""
    from shared.agent.llm import LLMError

    bot = _open(request, body)
    try:
        with _session_lock(bot.session.id):
            result = bot.send(body.message)
    except LLMError as exc:
        raise ApiError(503, str(exc), "llm_unavailable") from None
    finally:
        bot.close()
    return {
        "response": result.text,
        "session_id": bot.session.id,
        "model": bot.client.model,
        "usage": result.usage,
    }


@router.post(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_stream(request: Request, body: ChatRequest) -> StreamingResponse:
    """One turn as Server-Sent Events: session, delta, tool_start, tool_end, done | error."""
    bot = await asyncio.to_thread(_open, request, body)
    events: asyncio.Queue[tuple[str, dict] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()

    def emit(event: str, data: dict) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (event, data))

    def run_turn() -> None:
        from shared.agent.llm import LLMError
        from shared.agent.loop import TurnEvents

        def on_token(text: str) -> None:
            if cancelled.is_set():
                raise TurnCancelled
            emit("delta", {"text": text})

        def on_tool_end(outcome) -> None:
            emit("tool_end", {"name": outcome.name, "result": outcome.result})

        hooks = TurnEvents(
            on_token=on_token,
            on_tool_start=lambda name, args: emit("tool_start", {"name": name, "arguments": args}),
            on_tool_end=on_tool_end,
        )
        try:
            with _session_lock(bot.session.id):
                result = bot.send(body.message, hooks)
            emit(
                "done", {"response": result.text, "usage": result.usage, "model": bot.client.model}
            )
        except TurnCancelled:
            pass
        except LLMError as exc:
            emit("error", {"message": str(exc)})
        except Exception as exc:  # the stream must end with an event, not hang
            emit("error", {"message": f"{type(exc).__name__}: {exc}"})
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
            cancelled.set()  # runs when the client disconnects, too

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
