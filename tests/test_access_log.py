"""The HTTP services' access log: one structured event per request, after its response."""

from __future__ import annotations

import io
import json

import pytest
from asgi import asgi_get

from services.access_log import AccessLog
from shared.logs import configure_logging


@pytest.fixture
def log_stream(tmp_path, restore_logging):
    stream = io.StringIO()
    configure_logging("api", stream=stream, token_file=tmp_path / "token")
    return stream


def call(app, path: str = "/x", query: bytes = b"") -> list[dict]:
    return asgi_get(AccessLog(app), path, query)


def events(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_is_one_event_written_after_its_response(log_stream):
    async def not_found(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})
        assert log_stream.getvalue() == ""  # nothing logged while the response goes out

    call(not_found, "/api/memory/file", b"path=a.md")
    (event,) = events(log_stream)
    assert event["event"] == "http_request" and event["service"] == "api"
    assert (event["method"], event["path"], event["query"], event["status"]) == (
        "GET", "/api/memory/file", "path=a.md", 404,
    )  # fmt: skip
    assert event["client"] == "127.0.0.1:40000" and event["ms"] >= 0


def test_a_request_that_fails_before_answering_counts_as_500(log_stream):
    async def broken(scope, receive, send):
        raise RuntimeError("boom")

    assert call(broken) == []  # uvicorn sends the 500 for it
    (event,) = events(log_stream)
    assert event["status"] == 500 and "query" not in event
