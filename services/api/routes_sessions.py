"""`/api/sessions`: chat transcripts (JSONL files under `sessions/`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.api.errors import ApiError, id_error

router = APIRouter(prefix="/sessions", tags=["sessions"])


def _store(request: Request):
    from shared.agent.session import SessionStore

    return SessionStore(request.app.state.api.config.sessions_dir)


@router.get("")
def list_(
    request: Request,
    kind: Annotated[
        str, Query(pattern="^(conversation|task|heartbeat|cron|all)$")
    ] = "conversation",
) -> dict[str, Any]:
    """Conversations (chats) by default; `kind` lists the sessions of task, heartbeat or
    scheduled runs instead (each also reached from its job), or `all`. Sessions with no
    message are never listed."""
    from shared.conversations import list_sessions

    sessions = [
        {
            "id": s.info.id,
            "kind": s.kind,
            "job_id": s.job_id,
            "title": s.info.title,
            "model": s.info.model,
            "messages": s.info.messages,
            "created": s.info.created,
            "updated_at": datetime.fromtimestamp(s.info.updated, UTC).isoformat(),
        }
        for s in list_sessions(request.app.state.api.config, kind)
    ]
    return {"sessions": sessions}


@router.get("/{session_id}")
def show(request: Request, session_id: str) -> dict[str, Any]:
    session = _open(request, session_id)
    messages = [_message(e) for e in session.entries if e.get("type") == "message"]
    return {"id": session.id, "model": session.model, "messages": messages}


@router.delete("/{session_id}")
def delete(request: Request, session_id: str) -> dict[str, Any]:
    """Archive the transcript (renamed `*.deleted.<ts>`, as OpenClaw does), never destroy it."""
    session = _open(request, session_id)
    archived = session.path.with_name(f"{session.path.name}.deleted.{int(time.time())}")
    session.path.rename(archived)
    return {"id": session.id, "archived_as": archived.name}


def _message(entry: dict) -> dict[str, Any]:
    """A transcript message as the page shows it: what was typed, what was answered, the notes
    the answer rests on, and how it ended."""
    message = entry["message"]
    out = {
        "role": message.get("role"),
        "content": message.get("content"),
        "timestamp": entry.get("timestamp"),
        "tool_calls": message.get("tool_calls"),
    }
    for key in ("text", "sources", "notice", "stopped", "profile"):
        if entry.get(key):
            out[key] = entry[key]
    return out


def _open(request: Request, session_id: str):
    """A session by its id or a unique start of it (409 with the candidates if several)."""
    from shared.agent.session import SessionError
    from shared.ids import IdLookupError

    store = _store(request)
    try:
        return store.open(store.resolve(session_id))
    except IdLookupError as exc:
        raise id_error(exc) from None
    except SessionError as exc:
        status = 400 if "invalid session id" in str(exc) else 404
        raise ApiError(status, str(exc)) from None
