"""Which search requests the fast path answers itself; everything else must reach the route."""

from __future__ import annotations

import json
import sys

import pytest
from asgi import asgi_get, status_and_body
from test_services import make_home

from services.api import asgi_app, create_app
from services.api.search_fast_path import PATH, _search_params
from shared.logs import configure_logging

TOKEN = "t" * 43


def scope(query: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    if headers is None:
        headers = [(b"authorization", b"Bearer " + TOKEN.encode())]
    return {"type": "http", "method": "GET", "path": PATH, "query_string": query,
            "headers": headers}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"q=ferry", ("ferry", None)),
        (b"q=ferry+to+Hydra&limit=3", ("ferry to Hydra", 3)),
        (b"limit=100&q=%C3%A9t%C3%A9", ("\u00e9t\u00e9", 100)),
        (b"q=" + b"x" * 2000, ("x" * 2000, None)),
    ],
)
def test_well_formed_requests_are_answered(query, expected):
    assert _search_params(scope(query), TOKEN) == expected


@pytest.mark.parametrize(
    "query",
    [
        b"", b"q=", b"q=+++", b"q=" + b"x" * 2001, b"limit=3",
        b"q=x&limit=0", b"q=x&limit=101", b"q=x&limit=many", b"q=x&limit=03", b"q=x&limit=+3",
        b"q=x&limit=", b"q=x&q=y", b"q=x&limit=3&limit=4", b"q=x&other=1",
    ],
)  # fmt: skip
def test_anything_the_route_might_treat_differently_falls_through(query):
    assert _search_params(scope(query), TOKEN) is None


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Bearer wrong")],
        [(b"authorization", b"Basic " + TOKEN.encode())],
        [(b"authorization", b"Bearer  " + TOKEN.encode())],
        [(b"authorization", b"Bearer")],
        [(b"authorization", b"Bearer ")],
        [(b"authorization", b"Bearer wrong"), (b"authorization", b"Bearer " + TOKEN.encode())],
        [(b"authorization", b"Bearer " + TOKEN.encode()), (b"content-length", b"5")],
        [(b"authorization", b"Bearer " + TOKEN.encode()), (b"transfer-encoding", b"chunked")],
    ],
)
def test_missing_or_wrong_tokens_and_bodies_fall_through(headers):
    """The route gives the 401 (or 413) with its message; the fast path never answers those."""
    assert _search_params(scope(b"q=ferry", headers), TOKEN) is None


def test_the_scheme_is_case_insensitive_like_the_route():
    headers = [(b"authorization", b"bearer " + TOKEN.encode())]
    assert _search_params(scope(b"q=ferry", headers), TOKEN) == ("ferry", None)


def test_an_empty_token_never_matches():
    for header in (b"Bearer", b"Bearer "):
        assert _search_params(scope(b"q=ferry", [(b"authorization", header)]), "") is None


def search(app, query: bytes, token: str) -> tuple[int, bytes]:
    headers = [(b"host", b"127.0.0.1:31327"), (b"authorization", b"Bearer " + token.encode())]
    return status_and_body(asgi_get(app, PATH, query, headers))


def test_a_failing_search_gets_the_routes_json_error(tmp_path, capsys, restore_logging):
    """A memory DB that cannot be read (here: not a database at all) fails the search in both
    paths alike: the API's JSON 500, never uvicorn's plain-text one, and a logged traceback."""
    config = make_home(tmp_path)
    configure_logging("api", stream=sys.stderr, token_file=tmp_path / "token")
    config.memory_db.parent.mkdir(parents=True, exist_ok=True)
    config.memory_db.write_bytes(b"not a database\n" * 100)
    app = create_app(config)
    served, state = asgi_app(app, config.server.host), app.state.api
    try:
        fast = search(served, b"q=ferry", state.token)
        route = search(served, b"q=ferry&via=route", state.token)
    finally:
        state.close()
    assert fast == route
    status, body = fast
    assert status == 500
    assert json.loads(body)["error"]["code"] == "internal_error"
    failures = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    failures = [e for e in failures if e["event"] == "request_failed"]
    assert len(failures) == 2  # one a path, each with where it failed
    assert all(e["exception"][0]["exc_type"] == "NotADBError" for e in failures)
