"""`/api/sessions`: chat transcripts (JSONL files under `sessions/`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.api.errors import ApiError, id_error

router = APIRouter(prefix="/sessions", tags=["sessions"])


def _store(request: Request):
    from shared.agent.session import SessionStore

    return SessionStore(request.app.state.api.config.sessions_dir)


class Rename(BaseModel):
    title: str = Field(min_length=1, max_length=200)


@router.get("")
def list_(
    request: Request,
    kind: Annotated[
        str, Query(pattern="^(conversation|task|heartbeat|cron|all)$")
    ] = "conversation",
    q: Annotated[
        str | None,
        Query(max_length=200, description="Only sessions whose title or messages contain this."),
    ] = None,
) -> dict[str, Any]:
    """Conversations (chats) by default; `kind` lists the sessions of task, heartbeat or
    scheduled runs instead (each also reached from its job), or `all`. Sessions with no
    message are never listed."""
    from shared.conversations import list_sessions
    from shared.session_export import session_matches

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
        if not q or not q.strip() or session_matches(s.info.path, q)
    ]
    return {"sessions": sessions}


@router.get("/{session_id}")
def show(request: Request, session_id: str) -> dict[str, Any]:
    """The transcript as the page shows it; a failed or stopped turn is a `user` message (what
    was asked) followed by an `assistant` one with `error` or `interrupted`."""
    from shared.session_export import shown_messages

    session = _open(request, session_id)
    messages = [_message(m) for m in shown_messages(session.entries)]
    return {"id": session.id, "title": session.title, "model": session.model, "messages": messages}


@router.patch("/{session_id}")
def rename(request: Request, session_id: str, body: Rename) -> dict[str, Any]:
    """Give the session a title (kept in its transcript as an entry; the latest wins)."""
    from shared.agent.session import SessionError

    session = _open(request, session_id)
    try:
        title = session.rename(body.title)
    except SessionError as exc:
        raise ApiError(422, str(exc)) from None
    return {"id": session.id, "title": title}


@router.get(
    "/{session_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {}}}},
)
def export(request: Request, session_id: str) -> Response:
    """The conversation as a markdown file: what was asked, answered, cited, and what failed."""
    from shared.session_export import export_markdown, export_name

    session = _open(request, session_id)
    return Response(
        export_markdown(session),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export_name(session)}"'},
    )


@router.delete("/{session_id}")
def delete(request: Request, session_id: str) -> dict[str, Any]:
    """Archive the transcript (renamed `*.deleted.<ts>`, as OpenClaw does), never destroy it;
    each delete gets an archive of its own."""
    from shared.agent.session import SessionError

    session = _open(request, session_id)
    try:
        archived = _store(request).archive(session.id)
    except SessionError as exc:  # deleted meanwhile by another request
        raise ApiError(404, str(exc)) from None
    return {"id": session.id, "archived_as": archived.name}


def _message(entry: dict) -> dict[str, Any]:
    """A transcript message as the page shows it: what was typed, what was answered, the notes
    the answer rests on, and how it ended."""
    message = entry["message"]
    if entry.get("error") or entry.get("interrupted"):
        return {
            "role": message["role"],
            "content": message.get("content"),
            "timestamp": entry.get("timestamp"),
            **{k: entry[k] for k in ("error", "interrupted") if entry.get(k)},
        }
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
