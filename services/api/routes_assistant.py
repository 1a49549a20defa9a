"""`GET /api/assistant`: which model answers, and the prompt profile it gets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.api.errors import ApiError

router = APIRouter(prefix="/assistant", tags=["assistant"])


@router.get("")
def show(request: Request) -> dict[str, Any]:
    from shared.agent.llm import LLMError, resolve_endpoint
    from shared.agent.profiles import ProfileError, choose_profile

    config = request.app.state.api.config
    try:
        endpoint = resolve_endpoint(config)
        profile = choose_profile(config.llm.profile, endpoint.name, endpoint.provider)
    except (LLMError, ProfileError) as exc:
        raise ApiError(422, str(exc)) from None
    return {
        "model": endpoint.name,
        "provider": endpoint.provider,
        "where": endpoint.where,
        "profile": profile.as_dict(),
        "tools": bool(config.llm.tools and endpoint.supports_tools and profile.name == "full"),
    }
