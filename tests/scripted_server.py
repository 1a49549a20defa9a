"""A scripted OpenAI-compatible chat server, for tests where a cloud model is meant.

No cloud model can be reached here, so this stands in for one: a real HTTP server on loopback
(uvicorn, in a thread of the test process) speaking `POST /v1/chat/completions` (streamed or
whole) and `GET /v1/models`. Its words come from a script; it records every request body and
notices when a client goes away, so tests can check what LocalGPT sends and that a stopped turn
really stops generation.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


@dataclass
class Reply:
    text: str = ""
    finish_reason: str = "stop"
    first_token_delay: float = 0.0  # seconds before the first token ("reading the prompt")
    token_delay: float = 0.0  # seconds between tokens
    chunk_chars: int = 4  # characters a streamed delta
    tool_calls: list[dict] | None = None  # OpenAI-shaped calls instead of text


@dataclass
class ScriptedServer:
    replies: list[Reply] = field(default_factory=list)
    model: str = "scripted-test-model"
    requests: list[dict] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    disconnects: list[float] = field(default_factory=list)  # when a client left mid-reply
    tokens_sent: list[int] = field(default_factory=list)  # deltas sent, per streamed request
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict:
            return {"object": "list", "data": [{"id": self.model, "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            raw = await request.body()
            self.raw_bodies.append(raw)
            body = json.loads(raw)
            self.requests.append(body)
            reply = self.replies.pop(0) if self.replies else Reply("(no scripted reply left)")
            if not body.get("stream"):
                await asyncio.sleep(reply.first_token_delay)
                return JSONResponse(self._whole(reply))
            return StreamingResponse(self._stream(reply, request), media_type="text/event-stream")

        return app

    def _whole(self, reply: Reply) -> dict:
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    async def _stream(self, reply: Reply, request: Request):
        index = len(self.tokens_sent)
        self.tokens_sent.append(0)
        watcher = asyncio.ensure_future(self._watch(request))
        try:
            await asyncio.sleep(reply.first_token_delay)
            if reply.tool_calls:
                calls = [{**call, "index": i} for i, call in enumerate(reply.tool_calls)]
                yield _sse(_chunk(self.model, {"role": "assistant", "tool_calls": calls}, None))
                yield _sse(_chunk(self.model, {}, "tool_calls"))
                yield "data: [DONE]\n\n"
                return
            pieces = [
                reply.text[i : i + reply.chunk_chars]
                for i in range(0, len(reply.text), reply.chunk_chars)
            ]
            for piece in pieces:
                yield _sse(_chunk(self.model, {"content": piece}, None))
                self.tokens_sent[index] += 1
                if reply.token_delay:
                    await asyncio.sleep(reply.token_delay)
            yield _sse(_chunk(self.model, {}, reply.finish_reason))
            usage = {"prompt_tokens": 10, "completion_tokens": len(pieces)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            yield _sse({**_chunk(self.model, {}, None), "choices": [], "usage": usage})
            yield "data: [DONE]\n\n"
        finally:
            watcher.cancel()

    async def _watch(self, request: Request) -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                self.disconnects.append(time.monotonic())
                return

    # -- running --------------------------------------------------------------------------

    def __enter__(self) -> ScriptedServer:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the scripted server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def _chunk(model: str, delta: dict, finish_reason: str | None) -> dict:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data)}\n\n"
