"""`/v1`: the assistant behind the OpenAI chat API, for any OpenAI client (the `openai` package,
Open WebUI, simonw's `llm`, editors).

`POST /v1/chat/completions` runs a turn of LocalGPT's assistant (memory recall, tools, the
session transcript), whole or streamed as `chat.completion.chunk` events, and `GET /v1/models`
lists the configured model. Errors are OpenAI's error objects
(`{"error": {"message", "type", "param", "code"}}`), the 401 of a missing or wrong token
included; the rest of the API keeps its own error shape.

Sessions: `X-LocalGPT-Session: <id>` (or the request's `user` field) names the session; LocalGPT
keeps the conversation in its transcript, so only the last user message is new. The earlier
messages a client sends start the session when it has no history yet (a request without a
session gets a new session, started from them), so no client loses its history. The answer's
sources, session and how it ended ride in a `localgpt` field that OpenAI clients ignore.

Mounted as an app of its own so its errors never take the API's shape (and vice versa).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.answer_stream import AnswerStream
from services.api.auth import bearer
from services.api.errors import unexpected_error_response
from services.api.turns import cancel_on_disconnect, in_thread, session_lock
from services.telemetry import NO_TELEMETRY
from shared.logs import get_logger
from shared.token import token_matches

log = get_logger("api")

SESSION_HEADER = "X-LocalGPT-Session"
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_MESSAGE_CHARS = 100_000  # as POST /api/chat
STOPPED_AS = {"answered": "stop", "empty": "stop", "guard": "stop", "length": "length",
              "iteration_cap": "length"}  # fmt: skip
ERROR_TYPES = {401: "invalid_request_error", 403: "permission_error", 429: "rate_limit_error"}


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.kind = kind or ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.kind, "param": self.param}
        return {"error": error | {"code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


# -- the request --------------------------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, tool_call_id, ...
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request. Sampling settings (temperature, max_tokens, ...) and client-side
    `tools` are accepted and not used: the configured settings and LocalGPT's own memory tools
    apply. A client's system message is not used either: LocalGPT's own prompt is."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256)
    n: int | None = Field(None, ge=1, le=1)


# -- the app ------------------------------------------------------------------------------------


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise OpenAIError(
            401,
            "You didn't provide an API key: send 'Authorization: Bearer <token>' with "
            "LocalGPT's token (in $LOCALGPT_HOME/token) as the API key.",
            "invalid_api_key",
        )
    if not token_matches(request.app.state.api.token, credentials.credentials):
        raise OpenAIError(
            401,
            "Incorrect API key provided: use LocalGPT's token (in $LOCALGPT_HOME/token).",
            "invalid_api_key",
        )


def create_v1_app(state) -> FastAPI:
    app = FastAPI(
        telemetry=NO_TELEMETRY,
        title="LocalGPT OpenAI-compatible API",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        description="OpenAI's chat API, answered by LocalGPT's assistant.",
    )
    app.state.api = state
    router = APIRouter(dependencies=[Depends(require_token)])
    router.add_api_route("/models", list_models, methods=["GET"])
    router.add_api_route("/models/{model_id:path}", get_model, methods=["GET"])
    router.add_api_route("/chat/completions", chat_completions, methods=["POST"])
    app.include_router(router)

    @app.exception_handler(OpenAIError)
    async def openai_error(_: Request, exc: OpenAIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first = problems[0] if problems else {}
        where = [str(p) for p in first.get("loc", ()) if p != "body"]
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: "
            f"{e.get('msg', 'invalid')}"
            for e in problems
        )
        param = ".".join(where) or None
        return OpenAIError(400, message or "invalid request", param=param).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code)
        return OpenAIError(exc.status_code, str(exc.detail), code).response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        unexpected_error_response(request.url.path, exc)  # logged there
        return OpenAIError(500, "internal error; see the api log for details").response()

    return app


def _model_entry(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "localgpt"}


def list_models(request: Request) -> dict[str, Any]:
    """The model the assistant answers with (`[llm] model`)."""
    return {"object": "list", "data": [_model_entry(request.app.state.api.config.llm.model)]}


def get_model(request: Request, model_id: str) -> dict[str, Any]:
    configured = request.app.state.api.config.llm.model
    if model_id != configured:
        raise OpenAIError(
            404, f"The model '{model_id}' does not exist; this server answers with '{configured}'",
            "model_not_found", "model",
        )  # fmt: skip
    return _model_entry(configured)


async def chat_completions(request: Request, body: ChatCompletionRequest):
    """A turn of LocalGPT's assistant; `stream: true` for Server-Sent Events. Closing the
    connection stops the turn."""
    history, text = _conversation(body.messages)
    session_id = _session_id(request, body)
    bot = await asyncio.to_thread(_open, request, body.model, session_id)
    if body.stream:
        return _streamed(request, body, bot, history, text)
    return await _whole(request, bot, history, text)


# -- a turn -------------------------------------------------------------------------------------


def _conversation(messages: list[Message]) -> tuple[list[dict], str]:
    """(earlier user/assistant messages as text, the new user message)."""
    *earlier, last = messages
    if last.role != "user":
        raise OpenAIError(
            400, f"the last message must be the user's (role 'user'), not '{last.role}'",
            param="messages",
        )  # fmt: skip
    text = _text(last, len(messages) - 1)
    if not text.strip():
        raise OpenAIError(400, "the last user message is empty", param="messages")
    if len(text) > MAX_MESSAGE_CHARS:
        raise OpenAIError(
            400, f"the message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}",
            "context_length_exceeded", "messages",
        )  # fmt: skip
    history = []
    for index, message in enumerate(earlier):
        if message.role not in ("user", "assistant") or getattr(message, "tool_calls", None):
            continue  # a client's system prompt and tool traffic: LocalGPT brings its own
        content = _text(message, index)
        if content.strip():
            history.append({"role": message.role, "content": content})
    return history, text


def _text(message: Message, index: int) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if part.type != "text" or part.text is None:
            raise OpenAIError(
                400, f"messages[{index}]: only text content is supported, not '{part.type}'",
                "unsupported_content", f"messages[{index}].content",
            )  # fmt: skip
        parts.append(part.text)
    return "\n".join(parts)


def _session_id(request: Request, body: ChatCompletionRequest) -> str | None:
    header = request.headers.get(SESSION_HEADER)
    if header is not None:
        if not SESSION_ID.match(header):
            raise OpenAIError(
                400, f"{SESSION_HEADER} must be 1-128 letters, digits, '-' or '_'",
                "invalid_session", SESSION_HEADER,
            )  # fmt: skip
        return header
    if body.user:
        if SESSION_ID.match(body.user):
            return body.user
        return "user-" + hashlib.sha256(body.user.encode()).hexdigest()[:24]
    return None


def _open(request: Request, model: str, session_id: str | None):
    from shared.agent.assistant import Assistant
    from shared.agent.llm import LLMError
    from shared.agent.session import SessionError
    from shared.agent.tools import ToolContext

    state = request.app.state.api
    ctx = ToolContext(state.config, memory_factory=state.memory)
    chosen = None if model in (state.config.llm.model, "localgpt") else model
    try:
        return Assistant.open(state.config, chosen, session_id, ctx)
    except SessionError as exc:
        raise OpenAIError(400, str(exc), "invalid_session", SESSION_HEADER) from None
    except LLMError as exc:  # a model without a provider, or one whose API key is missing
        raise OpenAIError(
            404, f"The model '{model}' cannot be used: {exc}. GET /v1/models lists the "
            "configured one.", "model_not_found", "model",
        ) from None  # fmt: skip


def _start_session(bot, history: list[dict]) -> None:
    """A session with no history yet begins with the conversation the client sent."""
    if not history or bot.session.context_entries():
        return
    for message in history:
        if message["role"] == "user":
            bot.session.add_message(message, text=message["content"])
        else:
            bot.session.add_message(message, model=bot.client.model)


def _turn(bot, history: list[dict], text: str, hooks=None, scope=None):
    with session_lock(bot.session.id):
        _start_session(bot, history)
        return bot.send(text, hooks, cancel=scope)


def _failure(exc: BaseException) -> OpenAIError | None:
    from shared.agent.assistant import MessageTooLong
    from shared.agent.cancel import TurnCancelled
    from shared.agent.llm import LLMError

    if isinstance(exc, MessageTooLong):
        return OpenAIError(400, str(exc), "context_length_exceeded", "messages")
    if isinstance(exc, LLMError):
        return OpenAIError(503, str(exc), "llm_unavailable")
    if isinstance(exc, TurnCancelled):
        return OpenAIError(499, "the client went away; the turn was stopped", "cancelled")
    return None


async def _whole(request: Request, bot, history: list[dict], text: str) -> JSONResponse:
    from shared.agent.cancel import CancelScope

    scope = CancelScope()
    watcher = asyncio.create_task(cancel_on_disconnect(request, scope))
    try:
        result = await in_thread(lambda: _turn(bot, history, text, scope=scope))
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        raise failure from None
    finally:
        watcher.cancel()
        bot.close()
    body = {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": bot.client.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "finish_reason": STOPPED_AS.get(result.stopped, "stop"),
            }
        ],
        "usage": _usage(result),
        "localgpt": _extra(bot, result),
    }
    return JSONResponse(body, headers={SESSION_HEADER: bot.session.id})


def _streamed(
    request: Request, body: ChatCompletionRequest, bot, history: list[dict], text: str
) -> StreamingResponse:
    from shared.agent.cancel import CancelScope

    loop = asyncio.get_running_loop()
    items: asyncio.Queue[dict | None] = asyncio.Queue()
    scope = CancelScope()
    config = request.app.state.api.config
    answer = AnswerStream(config.workspace_dir, numbered=bot.profile.name == "compact")
    completion_id, created, model = _completion_id(), int(time.time()), bot.client.model
    usage_wanted = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> dict:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }

    def put(item: dict | None) -> None:
        loop.call_soon_threadsafe(items.put_nowait, item)

    def text_out(piece: str) -> None:
        if piece:
            put(chunk({"content": piece}))

    def run_turn() -> None:
        from shared.agent.loop import TurnEvents

        hooks = TurnEvents(
            on_token=lambda delta: text_out(answer.feed(delta)),
            on_tool_start=lambda name, args: text_out(answer.next_message()),
            on_sources=answer.set_sources,
        )
        try:
            result = _turn(bot, history, text, hooks, scope)
            text_out(answer.finish(result.text))
            finish = STOPPED_AS.get(result.stopped, "stop")
            put(chunk({}, finish, localgpt=_extra(bot, result)))
            if usage_wanted:
                put({**chunk({}), "choices": [], "usage": _usage(result)})
            put({"done": True})
        except Exception as exc:
            failure = _failure(exc)
            if failure is None:
                log.exception("v1_turn_failed")
                failure = OpenAIError(500, f"{type(exc).__name__}: {exc}")
            if failure.status != 499:
                put(failure.body())
        finally:
            bot.close()
            put(None)

    async def stream() -> AsyncIterator[str]:
        worker = threading.Thread(target=run_turn, name="chat-turn", daemon=True)
        try:
            yield _sse(chunk({"role": "assistant", "content": ""}))
            worker.start()
            while (item := await items.get()) is not None:
                yield "data: [DONE]\n\n" if item.get("done") else _sse(item)
        finally:
            scope.cancel()  # runs when the client disconnects, too

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                 SESSION_HEADER: bot.session.id},
    )  # fmt: skip


def _usage(result) -> dict[str, int]:
    usage = {k: int(result.usage.get(k, 0)) for k in ("prompt_tokens", "completion_tokens")}
    return usage | {"total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}


def _extra(bot, result) -> dict[str, Any]:
    """LocalGPT's own fields: what the answer rests on, and how it ended."""
    return {
        "session_id": bot.session.id,
        "sources": [s.as_dict() for s in result.sources],
        "stopped": result.stopped,
        "notice": result.notice,
        "profile": result.profile,
    }


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
