"""`localgpt run llm`: an OpenAI-compatible chat server for the embedded model, on loopback.

A small FastAPI front in front of llama.cpp's server (services/llm/engine.py): it keeps our
rules (loopback Host check, one structured log event a request, the model's name, no telemetry)
and our defaults (a repeat penalty against loops), and relays `POST /v1/chat/completions`,
streamed or whole, to the engine. When a client disconnects, the relay closes its own request
to the engine, which cancels the generation at once: the next request is served straight away.

It serves one GGUF under its file's name (the embedded SmolLM2 as `smollm2-135m-instruct`; see
shared/models/local.py for which file). Small local models cannot call tools, so `tools` are
dropped and tool messages in the history are shown to the model as plain text.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.access_log import AccessLog
from services.host_check import LoopbackHostsOnly, SameMachineOriginsOnly, is_loopback_bind
from services.llm.engine import Engine, EngineHandle, EngineLoading, start_engine
from services.llm.model import prepared_gguf
from services.telemetry import NO_TELEMETRY
from shared.config import LOCAL_LLM_MODEL, Config
from shared.logs import get_logger

log = get_logger(__name__)

PASSED_OPTIONS = (
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "repeat_last_n",
    "stream",
    "stream_options",
)
# Small models loop without a repeat penalty (llama.cpp's classic default is 1.1; we start
# there and let a request choose its own).
DEFAULTS = {"repeat_penalty": 1.1, "repeat_last_n": 128, "max_tokens": 512}


LOAD_WAIT_SECONDS = 120.0  # a request that arrives while the model loads waits this long


def create_app(handle: EngineHandle, name: str = LOCAL_LLM_MODEL) -> FastAPI:
    app = FastAPI(
        title="LocalGPT embedded model", docs_url=None, redoc_url=None, telemetry=NO_TELEMETRY
    )
    clients: dict[str, httpx.AsyncClient] = {}

    async def engine_client() -> httpx.AsyncClient:
        engine = await asyncio.to_thread(handle.wait, LOAD_WAIT_SECONDS)
        if "engine" not in clients:
            clients["engine"] = httpx.AsyncClient(
                base_url=engine.url, headers=engine.headers, timeout=None
            )
        return clients["engine"]

    @app.get("/health")
    def health() -> JSONResponse:
        if handle.loading:
            return JSONResponse({"status": "loading", "model": name}, status_code=503)
        if handle.engine is None:
            return JSONResponse(
                {"status": "failed", "model": name, "error": handle.error}, status_code=503
            )
        return JSONResponse({"status": "ok", "model": name})

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "localgpt"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the request body is not JSON", "invalid_request_error")
        problem = _check(body, name)
        if problem:
            return problem
        try:
            client = await engine_client()
        except EngineLoading as exc:
            return _error(503, str(exc), "server_error", code="model_loading")
        forwarded = engine_request(body)
        if forwarded.get("stream"):
            return StreamingResponse(
                _relay_stream(client, forwarded, name),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await _relay_whole(client, forwarded, name)

    return app


def engine_request(body: dict) -> dict:
    """What the engine is asked: our defaults, the options it understands, plain messages."""
    out = DEFAULTS | {k: body[k] for k in PASSED_OPTIONS if body.get(k) is not None}
    out["messages"] = plain_messages(body["messages"])
    return out


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


async def _relay_whole(client: httpx.AsyncClient, body: dict, name: str) -> JSONResponse:
    started = time.perf_counter()
    try:
        response = await client.post("/v1/chat/completions", json=body)
    except httpx.HTTPError as exc:
        return _error(503, f"the model engine is not answering: {exc}", "server_error")
    data = response.json()
    if response.status_code == 200:
        data["model"] = name
        _log_completion(False, started, data.get("usage"), data.get("timings"))
    return JSONResponse(data, status_code=response.status_code)


async def _relay_stream(client: httpx.AsyncClient, body: dict, name: str) -> AsyncIterator[str]:
    """Relay the engine's SSE lines; leaving early (a client that went away) closes the
    engine request, which makes llama.cpp cancel the generation."""
    started = time.perf_counter()
    usage = timings = None
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                detail = (await response.aread()).decode("utf-8", "replace")[:300]
                yield _sse({"error": {"message": f"the engine refused: {detail}"}})
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    break
                chunk = json.loads(line[6:])
                chunk["model"] = name
                usage = chunk.get("usage") or usage
                timings = chunk.get("timings") or timings
                yield _sse(chunk)
        yield "data: [DONE]\n\n"
        _log_completion(True, started, usage, timings)
    except httpx.HTTPError as exc:
        log.warning("engine_stream_failed", error=f"{type(exc).__name__}: {exc}")
        yield _sse({"error": {"message": f"the model engine failed: {exc}"}})


def _log_completion(stream: bool, started: float, usage: Any, timings: Any) -> None:
    timings = timings or {}
    log.info(
        "completion",
        stream=stream,
        seconds=round(time.perf_counter() - started, 3),
        usage=usage,
        prompt_per_second=round(timings.get("prompt_per_second") or 0, 1),
        predicted_per_second=round(timings.get("predicted_per_second") or 0, 1),
    )


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": code}}, status_code=status
    )


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Serve at once; the model is prepared and loaded meanwhile (requests wait for it).
    Blocks until SIGTERM/Ctrl-C."""
    import uvicorn

    from services.llm.model import ModelUnavailable
    from shared.models.choose import user_choice
    from shared.models.local import LocalModelError, served_file, served_name

    settings = config.local_llm
    host, port = host or settings.host, port or settings.port
    chosen = user_choice(config)
    try:  # the chosen local model, else the newest pulled one, else the embedded one
        source = served_file(config, chosen.model if chosen else None)
    except LocalModelError as exc:  # a missing model is an error now, not in the background
        raise ModelUnavailable(str(exc)) from None
    name = served_name(source)
    handle = EngineHandle()
    handle.load_in_background(lambda: _load(config, source, name))
    app: Any = SameMachineOriginsOnly(
        create_app(handle, name), lambda message: _error(403, message, "permission_error")
    )
    if is_loopback_bind(host):  # see services/host_check.py
        app = LoopbackHostsOnly(app, lambda message: _error(400, message, "invalid_request_error"))
    log.info("llm_server_starting", url=f"http://{host}:{port}/v1", model=name)
    uvicorn.run(
        AccessLog(app), host=host, port=port, log_config=None, timeout_graceful_shutdown=3,
        access_log=False,  # AccessLog writes one structured event a request instead
    )  # fmt: skip


def _load(config: Config, source: Path, name: str) -> Engine:
    settings = config.local_llm
    started = time.perf_counter()
    model_file = prepared_gguf(source, settings.quantize, config.models_dir)
    engine = start_engine(settings, model_file)
    log.info(
        "model_loaded",
        name=name,
        file=model_file.name,
        seconds=round(time.perf_counter() - started, 2),
        context=settings.context,
        extra_buffers=settings.extra_buffers,
    )
    return engine
