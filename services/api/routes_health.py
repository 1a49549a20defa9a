"""`GET /health` (no auth): can this process reach what it needs? Reveals no secrets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = request.app.state.api
    return await state.in_thread(lambda: _health(request))


def _health(request: Request) -> dict[str, Any]:
    state = request.app.state.api
    checks = {
        "memory_db": _check(lambda: state.memory().conn.execute("SELECT 1").fetchone()),
        "queue": _check(lambda: state.queue.stats()["queue_depth"]),
        "embedding_model": _model_status(state.embedder),
    }
    for name, extra in getattr(request.app.state, "health_extras", {}).items():
        checks[name] = extra()
    ok = all(value == "ok" for value in checks.values())
    return {"status": "ok" if ok else "degraded", "checks": checks}


def _model_status(embedder) -> str:
    if not embedder.loading and embedder.available():  # available() may start a warm-up
        return "ok"
    return "loading" if embedder.loading else f"unavailable: {embedder.error}"


def _check(probe) -> str:
    try:
        probe()
    except Exception as exc:  # health reports problems; it must not fail itself
        return f"error: {exc.__class__.__name__}: {exc}"
    return "ok"
