"""Bearer-token authentication for every `/api/*` route.

Async on purpose: a plain `def` dependency costs every request a hop through the threadpool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.errors import ApiError
from shared.token import token_matches

bearer = HTTPBearer(auto_error=False, description="The token in $LOCALGPT_HOME/token")


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401,
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(the token is in $LOCALGPT_HOME/token)",
        )
    if not token_matches(request.app.state.api.token, credentials.credentials):
        raise ApiError(401, "wrong bearer token")
