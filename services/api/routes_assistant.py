"""`GET /api/assistant`: which model answers, why, and the prompt profile it gets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.api.errors import ApiError

router = APIRouter(prefix="/assistant", tags=["assistant"])


@router.get("")
def show(request: Request) -> dict[str, Any]:
    from shared.agent.llm import LLMError, resolve_endpoint
    from shared.agent.profiles import ProfileError, choose_profile
    from shared.models.catalogue import RECOMMENDED
    from shared.models.choose import TINY_WARNING, is_tiny

    config = request.app.state.api.config
    try:
        endpoint = resolve_endpoint(config)
        profile = choose_profile(config.llm.profile, endpoint.name, endpoint.provider)
    except (LLMError, ProfileError) as exc:
        raise ApiError(422, str(exc)) from None
    tiny = is_tiny(endpoint.name)
    return {
        "model": endpoint.name,
        "provider": endpoint.provider,
        "where": endpoint.where,
        "reason": endpoint.reason,
        "tiny": tiny,
        "warning": TINY_WARNING if tiny else "",
        "better": f"localgpt models pull {RECOMMENDED.id}" if tiny else "",
        "profile": profile.as_dict(),
        "tools": bool(config.llm.tools and endpoint.supports_tools and profile.name == "full"),
    }
