"""Loopback servers answer only requests addressed to this machine (DNS rebinding defence)."""

from __future__ import annotations

import pytest
from asgi import asgi_get, status_and_body
from starlette.responses import PlainTextResponse

from services.host_check import LoopbackHostsOnly, host_name, is_loopback_bind, is_loopback_host


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:31327", "127.0.0.1"), ("localhost", "localhost"), ("[::1]:8080", "::1"),
     ("[::1]", "::1"), ("evil.example:31327", "evil.example"), ("::1", "::1"),
     ("[::1]evil.example", "[::1]evil.example"), ("[::1", "[::1")],
)  # fmt: skip
def test_the_port_is_not_part_of_the_name(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "localhost.", "app.localhost", "127.0.0.1", "127.8.9.1",
             "::1", "localhost.localdomain", "ip6-localhost", "localhost6"],
)  # fmt: skip
def test_loopback_names(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "0.0.0.0",
             "192.168.1.5", "10.0.0.1", "::", "", "localhostx", "[::1]evil.example"],
)  # fmt: skip
def test_other_names(host):
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("app.localhost", False),
     ("localhost.", False), ("ip6-localhost", False), ("0.0.0.0", False)],
)  # fmt: skip
def test_binding_takes_only_addresses_and_localhost(host, loopback):
    """A name a resolver would look up is not trusted to mean loopback when listening."""
    assert is_loopback_bind(host) is loopback


def status_for(app, host: bytes | None) -> int:
    return status_and_body(asgi_get(app, headers=None if host is None else [(b"host", host)]))[0]


async def ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def refuse(message: str) -> PlainTextResponse:
    return PlainTextResponse(message, status_code=400)


@pytest.mark.parametrize(
    ("host", "status"),
    [(b"127.0.0.1:31327", 200), (None, 200), (b"", 200), (b"Box.Tailnet.TS.net", 200),
     (b"box.tailnet.ts.net.:443", 200), (b"other.tailnet.ts.net", 400), (b"rebound.example", 400)],
)  # fmt: skip
def test_names_the_user_allowed_are_served(host, status):
    """A reverse proxy or tunnel that keeps its own name ([server] allowed_hosts)."""
    app = LoopbackHostsOnly(ok, refuse, allowed=" box.tailnet.ts.net , ")
    assert status_for(app, host) == status
