"""`localgpt run llm`: an OpenAI-compatible chat server for the embedded model, on loopback.

Just enough of the OpenAI API for litellm's `openai/` provider: `GET /v1/models`,
`POST /v1/chat/completions` (streamed as SSE or whole), and `GET /health`. One llama.cpp
context serves one request at a time; a client that disconnects stops its generation.
The 135M model cannot call tools, so `tools` are accepted and ignored, and tool messages in the
history are shown to it as plain text.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.access_log import AccessLog
from services.host_check import LoopbackHostsOnly, is_loopback_bind
from services.telemetry import NO_TELEMETRY
from shared.config import LOCAL_LLM_MODEL, Config
from shared.logs import get_logger

log = get_logger(__name__)

PASSED_OPTIONS = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty")
_DONE = object()


@dataclass
class Engine:
    """The loaded model and the lock that serialises its use."""

    llama: Any
    name: str
    lock: threading.Lock


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(
        title="LocalGPT embedded model", docs_url=None, redoc_url=None, telemetry=NO_TELEMETRY
    )

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": engine.name}

    @app.get("/v1/models")
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": engine.name, "object": "model", "owned_by": "localgpt"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the request body is not JSON", "invalid_request_error")
        problem = _check(body, engine.name)
        if problem:
            return problem
        messages = plain_messages(body["messages"])
        options = {k: body[k] for k in PASSED_OPTIONS if body.get(k) is not None}
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _stream(engine, messages, options, usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await asyncio.to_thread(_complete, engine, messages, options)

    return app


def _check(body: Any, served: str) -> JSONResponse | None:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return _error(400, "`messages` must be a list", "invalid_request_error")
    if not body["messages"]:
        return _error(400, "`messages` is empty", "invalid_request_error")
    model = body.get("model")
    if model not in (served, None, ""):
        return _error(
            404,
            f"The model `{model}` does not exist; this server serves `{served}`",
            "invalid_request_error",
            code="model_not_found",
        )
    return None


def plain_messages(messages: list[Any]) -> list[dict]:
    """System/user/assistant messages with text content, as the model's chat template expects."""
    out: list[dict] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        text = _text(message.get("content"))
        if role == "tool":
            role, text = "user", f"Tool result ({message.get('name') or 'tool'}):\n{text}"
        elif role == "assistant" and message.get("tool_calls"):
            names = ", ".join(
                (c.get("function") or {}).get("name", "?") for c in message["tool_calls"]
            )
            text = f"{text}\n(called tools: {names})".strip()
        elif role not in ("system", "user", "assistant"):
            role = "user"
        out.append({"role": role, "content": text})
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return "" if content is None else str(content)


def _complete(engine: Engine, messages: list[dict], options: dict) -> dict:
    started = time.perf_counter()
    with engine.lock:
        response = engine.llama.create_chat_completion(messages=messages, **options)
    response["model"] = engine.name
    log.info(
        "completion",
        stream=False,
        seconds=round(time.perf_counter() - started, 3),
        usage=response.get("usage"),
    )
    return response


async def _stream(
    engine: Engine, messages: list[dict], options: dict, include_usage: bool
) -> AsyncIterator[str]:
    """Generate in a worker thread; forward chunks as SSE; stop generating if the client left."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()
    stats = {"completion_tokens": 0, "prompt_tokens": 0}
    started = time.perf_counter()

    def produce() -> None:
        with engine.lock:
            try:
                for chunk in engine.llama.create_chat_completion(
                    messages=messages, stream=True, **options
                ):
                    if stop.is_set():
                        break
                    if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                        stats["completion_tokens"] += 1
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                stats["prompt_tokens"] = max(0, engine.llama.n_tokens - stats["completion_tokens"])
            except Exception as exc:  # reported to the client as an SSE error event
                log.exception("generation_failed")
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    worker = loop.run_in_executor(None, produce)
    chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, Exception):
                yield _sse({"error": {"message": f"generation failed: {item}"}})
                break
            item["id"], item["model"] = chunk_id, engine.name
            yield _sse(item)
        await worker
        usage = {**stats, "total_tokens": stats["prompt_tokens"] + stats["completion_tokens"]}
        if include_usage:
            yield _sse(
                {
                    "id": chunk_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": engine.name,
                    "choices": [],
                    "usage": usage,
                }
            )
        yield "data: [DONE]\n\n"
        seconds = time.perf_counter() - started
        log.info("completion", stream=True, seconds=round(seconds, 3), usage=usage)
    finally:
        stop.set()


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code}}, status_code=status
    )


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Load the model, then serve until SIGTERM/Ctrl-C (blocking)."""
    import uvicorn

    from services.llm.model import find_gguf, load_llama

    settings = config.local_llm
    host, port = host or settings.host, port or settings.port
    path = find_gguf(settings)
    started = time.perf_counter()
    llama = load_llama(settings, path)
    log.info(
        "model_loaded",
        path=str(path),
        seconds=round(time.perf_counter() - started, 2),
        context=settings.context,
        extra_buffers=settings.extra_buffers,
    )
    app: Any = create_app(Engine(llama, LOCAL_LLM_MODEL, threading.Lock()))
    if is_loopback_bind(host):  # see services/host_check.py
        app = LoopbackHostsOnly(app, lambda message: _error(400, message, "invalid_request_error"))
    log.info("llm_server_starting", url=f"http://{host}:{port}/v1", model=LOCAL_LLM_MODEL)
    uvicorn.run(
        AccessLog(app), host=host, port=port, log_config=None, timeout_graceful_shutdown=3,
        access_log=False,  # AccessLog writes one structured event a request instead
    )  # fmt: skip
