"""`/mcp`: the MCP server (services/mcp) over streamable HTTP, behind the API's bearer token.

Stateless and plain JSON: every POST is answered on its own (no MCP session kept in the API
process, no long-lived event stream), which is all these tools need. The SDK's own Host/Origin
check is off because the API's applies to every route, `/mcp` included (`host_check`,
`[server] allowed_hosts`); a page of another site cannot send the `Authorization` header
without a CORS preflight, which the API never grants.

The SDK is loaded on the first authorised request, not at start: it costs the API ~0.5 s and
~26 MB, which an API nobody reaches over MCP should not pay.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Scope, Send

from services.api.errors import error_response
from shared.logs import get_logger
from shared.token import token_matches

log = get_logger("api")

PATH = "/mcp"


class McpEndpoint:
    """The ASGI app served at `/mcp` (any method: the transport answers POST, and refuses the
    others in MCP's own terms)."""

    def __init__(self, state) -> None:
        self.state = state
        self._manager: Any = None  # the SDK's StreamableHTTPSessionManager, once running
        self._starting = asyncio.Lock()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self._unauthorised(scope)
        if problem:
            response = error_response(401, problem, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        manager = self._manager or await self._start()
        await manager.handle_request(scope, receive, send)

    async def close(self) -> None:
        """At the API's shutdown: end the transport's task group (and any request in it)."""
        self._stop.set()
        if self._runner is not None:
            await self._runner

    async def _start(self) -> Any:
        async with self._starting:
            if self._manager is None:
                server = await asyncio.to_thread(_build, self.state)  # imports the SDK
                running = asyncio.get_running_loop().create_future()
                self._runner = asyncio.create_task(self._run(server, running))
                self._manager = await running
                log.info("mcp_ready", transport="streamable-http", path=PATH)
        return self._manager

    async def _run(self, server, running: asyncio.Future) -> None:
        try:
            async with server.session_manager.run():
                running.set_result(server.session_manager)
                await self._stop.wait()
        except BaseException as exc:
            if not running.done():
                running.set_exception(exc)
            raise

    def _unauthorised(self, scope: Scope) -> str:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, presented = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return (
                "missing bearer token: send 'Authorization: Bearer <token>' "
                "(the token is in $LOCALGPT_HOME/token)"
            )
        if not token_matches(self.state.token, presented.strip()):
            return "wrong bearer token"
        return ""


def _build(state):
    from mcp.server.transport_security import TransportSecuritySettings

    from services.mcp import build_server

    server = build_server(state)
    server.streamable_http_app(  # builds the session manager requests go to
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return server
