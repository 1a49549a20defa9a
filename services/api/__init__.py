"""The HTTP API: FastAPI on uvicorn, loopback by default, bearer token on every `/api/*` route.

Routes are plain `def` functions, which FastAPI runs in its threadpool, where blocking SQLite and
queue calls belong; the memory routes are `async def` and hand their work to the API's own
memory-DB threads (`ApiState.in_memory`). No route blocks the event loop.

What uvicorn serves is `asgi_app`: the search fast path in front of the FastAPI app.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp

from services.access_log import AccessLog
from services.api import (
    routes_assistant,
    routes_chat,
    routes_cron,
    routes_health,
    routes_heartbeat,
    routes_jobs,
    routes_memory,
    routes_models,
    routes_sessions,
    routes_tasks,
)
from services.api.auth import require_token
from services.api.errors import error_response, install_error_handlers
from services.api.limits import BodyLimitMiddleware
from services.api.mcp_http import McpEndpoint
from services.api.openai_compat import create_v1_app
from services.api.search_fast_path import SearchFastPath
from services.api.state import ApiState
from services.api.web import mount_web
from services.host_check import LoopbackHostsOnly, is_loopback_bind
from services.telemetry import NO_TELEMETRY
from shared.config import Config
from shared.logs import get_logger
from shared.malloc import limit_arenas

log = get_logger("api")

MAX_BODY_BYTES = 1_000_000


def create_app(config: Config) -> FastAPI:
    state = ApiState(config)
    mcp = McpEndpoint(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.warm_up_in_background()
        log.info("api_ready", workspace=str(config.workspace_dir))
        yield
        await mcp.close()
        state.close()
        log.info("api_stopped")

    app = FastAPI(
        telemetry=NO_TELEMETRY,
        title="LocalGPT",
        version="0.1.0",
        lifespan=lifespan,
        description="Local-first assistant API. Every /api route needs "
        "`Authorization: Bearer <token>` (see $LOCALGPT_HOME/token), as do `/mcp` (the memory "
        "as an MCP server, streamable HTTP) and the OpenAI-compatible `/v1` routes.",
    )
    app.state.api = state
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    install_error_handlers(app)
    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])
    api.include_router(routes_memory.router)
    api.include_router(routes_jobs.router)
    api.include_router(routes_heartbeat.router)
    api.include_router(routes_chat.router)
    api.include_router(routes_assistant.router)
    api.include_router(routes_models.router)
    api.include_router(routes_tasks.router)
    api.include_router(routes_cron.router)
    api.include_router(routes_sessions.router)
    app.include_router(routes_health.router)
    app.include_router(api)
    app.router.routes.append(Route("/mcp", mcp, include_in_schema=False))  # its own auth
    app.mount("/v1", create_v1_app(state))  # OpenAI's API, with OpenAI's error shape
    mount_web(app)
    return app


def asgi_app(app: FastAPI, host: str) -> ASGIApp:
    """What uvicorn runs on `host`: a log event for every request, requests for other hosts
    refused on loopback (see `host_check`), well-formed searches answered in front of FastAPI
    (see `search_fast_path`), everything else by `app` (from `create_app`)."""
    served: ASGIApp = SearchFastPath(app, app.state.api)
    if is_loopback_bind(host):
        served = LoopbackHostsOnly(
            served,
            refusal=lambda message: error_response(400, message),
            allowed=app.state.api.config.server.allowed_hosts,
        )
    return AccessLog(served)


class RemoteBindRefused(Exception):
    """Binding beyond loopback needs `[server] allow_remote = true`."""


def check_bind(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback_bind(host):
        raise RemoteBindRefused(
            f"refusing to listen on {host}: only loopback addresses are allowed unless "
            "[server] allow_remote = true is set in config.toml (anyone who can reach the "
            "port and has the token can read your memory)"
        )


def serve(config: Config, host: str, port: int) -> None:
    import uvicorn

    check_bind(host, config.server.allow_remote)
    limit_arenas()  # before any thread starts: see shared/malloc.py
    app = asgi_app(create_app(config), host)
    log.info("api_starting", host=host, port=port)
    uvicorn.run(
        app, host=host, port=port, log_config=None, timeout_graceful_shutdown=3,
        access_log=False,  # AccessLog writes one structured event a request instead
    )  # fmt: skip
