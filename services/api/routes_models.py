"""`/api/models`: which model answers and which could (`localgpt models list`), and choosing one
(`localgpt models use`: writes `[llm]` in config.toml; running processes pick it up when they
restart, which the reply's notes say)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api.errors import ApiError

router = APIRouter(prefix="/models", tags=["models"])


class UseModel(BaseModel):
    name: str = Field(min_length=1, max_length=300, description='A listed model, or "auto".')


@router.get("")
def list_(request: Request) -> dict[str, Any]:
    """The embedded model, pulled GGUFs, Ollama's models, cloud keys, a configured server."""
    from shared.models.manage import list_models

    return list_models(request.app.state.api.config).as_dict()


@router.post("/use")
def use(request: Request, body: UseModel) -> dict[str, Any]:
    """Write the choice to config.toml (the rest of the file untouched, replaced atomically)."""
    from shared.models.configfile import ConfigEditError
    from shared.models.manage import ModelsError, use_model

    try:
        return use_model(request.app.state.api.config, body.name).as_dict()
    except ModelsError as exc:
        raise ApiError(422, str(exc)) from None
    except ConfigEditError as exc:
        raise ApiError(409, str(exc), "config_unwritable") from None
