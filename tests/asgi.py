"""Driving an ASGI app directly, with no server: one GET request, and what the app sent."""

from __future__ import annotations

import asyncio
import contextlib


def asgi_get(
    app, path: str = "/", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> list[dict]:
    """The messages `app` sends for one GET. An exception raised after answering is dropped:
    Starlette re-raises a route's error for the server to log."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": query, "root_path": "", "scheme": "http", "http_version": "1.1",
             "headers": headers or [], "server": ("127.0.0.1", 31327),
             "client": ("127.0.0.1", 40000)}  # fmt: skip
    with contextlib.suppress(Exception):
        asyncio.run(app(scope, receive, send))
    return sent


def status_and_body(sent: list[dict]) -> tuple[int, bytes]:
    assert sent, "no response at all"
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])
