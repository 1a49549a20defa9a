"""`GET /api/memory/search` for well-formed, authorised requests, without the framework's
per-request machinery.

Search is the API's hot route, and the API's throughput is bound by the GIL: FastAPI's routing,
dependency solving and validation held it about as long as the search itself (`bench/api.py`).
This ASGI layer sits in front of the whole FastAPI app (so also before its middleware stack and
its OpenTelemetry hook) and answers the common case directly: a valid bearer token, `q` (and
optionally `limit`) in range, no body. Anything else (a missing or wrong token, an invalid or
unexpected parameter, the date filters `after`/`before`, a body) falls through to the FastAPI
route, which stays the documented one
and produces every error, so both paths give the same answers. Tests compare them. The body is
encoded by orjson in the DB thread (the stdlib encoder took ~60 us of the event loop's time).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.errors import unexpected_error_response
from services.api.routes_memory import MAX_QUERY_CHARS
from services.api.state import ApiState
from shared.memory.search import MAX_LIMIT
from shared.token import token_matches

PATH = "/api/memory/search"
_LIMIT = re.compile(r"[1-9][0-9]{0,2}")


class SearchFastPath:
    """Wraps the FastAPI app: answers the searches it can, hands it everything else."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        params = _search_params(scope, self.state.token)
        if params is None:
            await self.app(scope, receive, send)
            return
        query, limit = params
        try:
            body = await self.state.in_memory(
                lambda memory: orjson.dumps(memory.search(query, limit).as_dict())
            )
        except Exception as exc:  # the route's answer to the same failure: JSON, logged
            await unexpected_error_response(PATH, exc)(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _headers(body)})
        await send({"type": "http.response.body", "body": body})


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers Starlette's JSONResponse would send."""
    return [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]


def _search_params(scope: Scope, token: str) -> tuple[str, int | None] | None:
    """(q, limit) when the request is one the route would accept as is; None otherwise."""
    authorization = None
    for name, value in scope["headers"]:
        if name in (b"content-length", b"transfer-encoding"):
            return None  # a body: the route's size limit and errors apply
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")  # the first one, as Starlette reads it
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials or not token_matches(token, credentials):
        return None
    params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    names = [name for name, _ in params]
    if "q" not in names or len(set(names)) != len(names) or not set(names) <= {"q", "limit"}:
        return None
    values = dict(params)
    query, limit = values["q"], values.get("limit")
    if not (0 < len(query) <= MAX_QUERY_CHARS and query.strip()):
        return None
    if limit is None:
        return query, None
    if not _LIMIT.fullmatch(limit) or int(limit) > MAX_LIMIT:
        return None
    return query, int(limit)
