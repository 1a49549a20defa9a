"""A server on loopback answers only requests addressed to this machine by name.

DNS rebinding: a web page can point a domain of its own at 127.0.0.1 and then read what a local
server answers, as if it were that domain's. The bearer token keeps `/api/*` shut, but the
health check, the API docs, the web page and the model server (which has no token) would answer.
Browsers always send the name they resolved in the Host header, so a loopback-bound server
refuses any Host that is not `localhost`, a `*.localhost` name (browsers pin those to loopback),
one of the loopback aliases of /etc/hosts, a loopback address, or a name the user allowed (a
reverse proxy or tunnel that keeps its own name: `[server] allowed_hosts`). A request without a
Host (HTTP/1.0 tools) is no browser's, and is let through. Servers bound beyond loopback
(`allow_remote`) are meant to be reached by other names, and get no check.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI checks bind addresses without loading starlette
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send


# Debian's and Fedora's /etc/hosts name the loopback addresses so too; none is a public name.
LOOPBACK_ALIASES = frozenset(
    {"localhost", "localhost.localdomain", "localhost4", "localhost4.localdomain4",
     "localhost6", "localhost6.localdomain6", "ip6-localhost", "ip6-loopback"}
)  # fmt: skip
_BRACKETED = re.compile(r"\[([^\]]*)\](?::\d*)?")


@functools.lru_cache(maxsize=256)  # a server sees a few names; parsing one takes microseconds
def is_loopback_host(host: str) -> bool:
    """A name or address that means this machine: `localhost` (and its aliases), a
    `*.localhost` name, or a loopback IPv4/IPv6 address."""
    host = normal_name(host)
    if host in LOOPBACK_ALIASES or host.endswith(".localhost"):
        return True
    return is_loopback_address(host)


def is_loopback_bind(host: str) -> bool:
    """An address to listen on that only this machine can reach: `localhost` or a loopback
    address (not every name `is_loopback_host` accepts: a resolver may look those up)."""
    return host == "localhost" or is_loopback_address(host)


def is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normal_name(host: str) -> str:
    return host.lower().rstrip(".")


def host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:31327` -> `::1`. A malformed
    bracketed form is returned whole (so it names nothing allowed)."""
    if header.startswith("["):
        bracketed = _BRACKETED.fullmatch(header)
        return bracketed.group(1) if bracketed else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LoopbackHostsOnly:
    """Refuses requests whose Host header names another machine (see the module docstring)."""

    def __init__(self, app: ASGIApp, refusal: Callable[[str], Response], allowed: str = "") -> None:
        self.app, self.refusal = app, refusal
        self.allowed = frozenset(normal_name(n.strip()) for n in allowed.split(",") if n.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # (neither server has websockets)
            host = _host_header(scope)
            if host and not self._allows(host_name(host)):
                await self.refusal(
                    f"refusing a request addressed to {host!r}: this server is bound to "
                    "loopback and answers only requests for localhost or a loopback address "
                    "(a reverse proxy's own name can be added to [server] allowed_hosts)"
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _allows(self, name: str) -> bool:
        return is_loopback_host(name) or normal_name(name) in self.allowed


def _host_header(scope: Scope) -> str | None:
    return _header(scope, b"host")


class SameMachineOriginsOnly:
    """Refuses requests a web page of another site sent: browsers put that page's `Origin` on
    every cross-origin POST, including the "simple" `text/plain` ones no CORS preflight stops.

    For the model server, which has no token: any page the user visits could otherwise make it
    burn the CPU. Programs (litellm, curl) send no Origin; a page served from this machine
    (a loopback origin) is let through.
    """

    def __init__(self, app: ASGIApp, refusal: Callable[[str], Response]) -> None:
        self.app, self.refusal = app, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = _header(scope, b"origin")
            if origin is not None and not _is_loopback_origin(origin):
                await self.refusal(
                    f"refusing a request from the web page at {origin[:100]!r}: this server "
                    "answers programs on this machine, not other sites' pages"
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_loopback_origin(origin: str) -> bool:
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and bool(rest) and is_loopback_host(host_name(rest))


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None
