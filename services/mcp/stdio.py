"""`localgpt mcp`: the MCP server over stdio, as desktop clients start it.

The process holds what the API holds for search (`ApiState`): query vectors from a running
worker, or a lean encoder of its own after `[embedding] query_service_wait` seconds; the vectors
in memory; a few memory-DB threads. While it serves, the SDK points fd 1 at stderr, so nothing
but protocol messages reaches stdout; logs go to stderr and `logs/mcp.jsonl`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from services.mcp.server import build_server
from shared.config import Config
from shared.logs import get_logger

log = get_logger("mcp")


def serve_stdio(config: Config) -> None:
    from services.api.state import ApiState

    state = ApiState(config)

    @asynccontextmanager
    async def lifespan(_server) -> AsyncIterator[None]:
        state.warm_up_in_background()  # inside the transport: fd 1 is no longer the wire
        log.info("mcp_ready", transport="stdio")
        try:
            yield None
        finally:
            state.close()
            log.info("mcp_stopped", transport="stdio")

    anyio.run(build_server(state, lifespan).run_stdio_async)
