"""A server on loopback answers only requests addressed to this machine by name.

DNS rebinding: a web page can point a domain of its own at 127.0.0.1 and then read what a local
server answers, as if it were that domain's. The bearer token keeps `/api/*` shut, but the
health check, the API docs, the web page and the model server (which has no token) would answer.
Browsers always send the name they resolved in the Host header, so a loopback-bound server
refuses any Host that is not `localhost`, a `*.localhost` name (browsers pin those to loopback)
or a loopback address. A request without a Host header (HTTP/1.0 tools) is no browser's, and is
let through. Servers bound beyond loopback (`allow_remote`) are meant to be reached by other
names, and get no check.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI checks bind addresses without loading starlette
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send


@functools.lru_cache(maxsize=256)  # a server sees a few names; parsing one takes microseconds
def is_loopback_host(host: str) -> bool:
    """`localhost`, a `*.localhost` name, or a loopback IPv4/IPv6 address."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:31327` -> `::1`."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LoopbackHostsOnly:
    """Refuses requests whose Host header names another machine (see the module docstring)."""

    def __init__(self, app: ASGIApp, refusal: Callable[[str], Response]) -> None:
        self.app, self.refusal = app, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # (neither server has websockets)
            host = _host_header(scope)
            if host is not None and not is_loopback_host(host_name(host)):
                await self.refusal(
                    f"refusing a request addressed to {host!r}: this server is bound to loopback "
                    "and answers only requests for localhost or a loopback address"
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"host":
            return value.decode("latin-1")
    return None
