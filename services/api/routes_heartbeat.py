"""`GET /api/heartbeat/status`: the same data as `localgpt heartbeat status --json`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from shared.heartbeat import HeartbeatStore, heartbeat_status

router = APIRouter(prefix="/heartbeat", tags=["heartbeat"])


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    config = request.app.state.api.config
    return heartbeat_status(datetime.now(UTC), config, HeartbeatStore(config.heartbeat_db))
