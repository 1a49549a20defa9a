"""One `http_request` log event per request, for the HTTP services (the API and the local model).

Replaces uvicorn's access log, which formats a message string through stdlib logging and writes
it before the response's headers go out. This event is written after the response is sent, and
it is structured, so `localgpt logs` can filter it: method, path, query, status, duration, client.
A request that fails before any response counts as the 500 the server then sends.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import get_logger

log = get_logger("http")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            log.info("http_request", **request_fields(scope), status=status,
                     ms=round((time.perf_counter() - started) * 1000, 2))  # fmt: skip


def request_fields(scope: Scope) -> dict[str, str]:
    client = scope.get("client")
    fields = {"method": scope["method"], "path": scope["path"]}
    if scope.get("query_string"):
        fields["query"] = scope["query_string"].decode("latin-1")
    if client:
        fields["client"] = f"{client[0]}:{client[1]}"
    return fields
