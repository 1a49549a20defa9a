"""`GET /api/heartbeat/status`: the same data as `localgpt heartbeat status --json`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from shared.heartbeat import HeartbeatStore, heartbeat_status

router = APIRouter(prefix="/heartbeat", tags=["heartbeat"])


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    from shared.jobview import latest_run

    state = request.app.state.api
    config = state.config
    status = heartbeat_status(datetime.now(UTC), config, HeartbeatStore(config.heartbeat_db))
    status["last_job"] = latest_run(state.queue.ledger, "heartbeat")
    return status
