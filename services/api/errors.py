"""Every error as `{"error": {"code", "message"}}` with the right status, never a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logs import get_logger

log = get_logger("api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def id_error(exc: LookupError) -> ApiError:
    """A typed id that is malformed (400), names nothing (404) or several things (409, the
    message lists the candidates)."""
    from shared.ids import AmbiguousId, InvalidId

    if isinstance(exc, AmbiguousId):
        return ApiError(409, str(exc), "ambiguous_id")
    return ApiError(400 if isinstance(exc, InvalidId) else 404, str(exc))


class ApiError(Exception):
    """Raised by routes for an expected failure with a clear message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or CODES.get(status, "error")


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: "
            f"{e.get('msg', 'invalid')}"
            for e in exc.errors()
        ]
        return error_response(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(request.url.path, exc)


def unexpected_error_response(path: str, exc: Exception) -> JSONResponse:
    """A 500 that says where to look, with the cause in the log (never in the response)."""
    log.error("request_failed", path=path, error=f"{exc.__class__.__name__}: {exc}", exc_info=exc)
    return error_response(500, "internal error; see the api log for details")
