"""The web page: a static single-page app at `/`, and the one-time login-code exchange.

The page is plain ES modules shipped in the package (no build step, no CDN). A strict
Content-Security-Policy allows only same-origin scripts, styles and requests, and Trusted Types
make any accidental `innerHTML` throw: memory text and model output are data, never markup.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.errors import ApiError
from shared.login import MAX_CODE_CHARS, redeem_code
from shared.logs import get_logger

log = get_logger("api")

STATIC_DIR = Path(__file__).resolve().parent / "static"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # No hashed file names (no build step): revalidate every time; ETags make that cheap.
    "Cache-Control": "no-cache",
}

# Some systems map .js to text/plain, which browsers refuse for modules.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")


class CodeExchange(BaseModel):
    code: str = Field(min_length=1, max_length=MAX_CODE_CHARS)


class TokenGrant(BaseModel):
    token: str


class _PageHeaders:
    """Security and cache headers on the page and its assets (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/" or path.startswith("/static/")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def mount_web(app: FastAPI) -> None:
    router = APIRouter(tags=["web"])

    @router.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(STATIC_DIR / "icon.svg", media_type="image/svg+xml")

    @router.post("/auth/exchange", response_model=TokenGrant)
    def exchange(request: Request, body: CodeExchange) -> Response:
        """Trade a one-time code from `localgpt open` for the API token (no auth needed)."""
        state = request.app.state.api
        if not redeem_code(state.config, body.code):
            log.info("login_code_refused")
            raise ApiError(
                401,
                "this login link is invalid, expired or already used; "
                "run `localgpt open` for a new one",
            )
        log.info("login_code_redeemed")
        return Response(
            content=TokenGrant(token=state.token).model_dump_json(),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    app.include_router(router)
    # StaticFiles never lists directories; unknown files are 404 in the API's error shape.
    app.mount("/static", StaticFiles(directory=STATIC_DIR, html=False), name="static")
    app.add_middleware(_PageHeaders)
