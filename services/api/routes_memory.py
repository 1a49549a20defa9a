"""`/api/memory/*`: search, stats, reindex, file reads, and notes listed, read and saved
(workspace-confined)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.api.errors import ApiError
from shared.logs import get_logger
from shared.memory.access import MemoryFileError
from shared.memory.dates import AFTER_HELP, BEFORE_HELP, DateError, date_filter
from shared.memory.lines import read_lines
from shared.memory.search import MAX_LIMIT
from shared.memory.writes import (
    MAX_ENTRY_CHARS,
    ConfirmationRequired,
    MemoryWriteError,
    PendingEditNotFound,
    VersionNotFound,
    apply_pending,
    memory_versions,
    restore_version,
    update_memory_md,
)
from shared.status import memory_status
from shared.workspace import OutsideWorkspaceError

log = get_logger("api")

router = APIRouter(prefix="/memory", tags=["memory"])
MAX_QUERY_CHARS = 2000


class SearchHit(BaseModel):
    path: str
    start_line: int
    end_line: int
    heading: str
    score: float
    snippet: str
    keyword_score: float
    vector_score: float
    day: str | None = Field(None, description="YYYY-MM-DD the cited lines are dated, if any.")
    chunks: int = Field(1, description="Indexed chunks merged into this span.")
    provenance: str = Field(
        "user", description="Who wrote the cited lines: user, assistant or mixed."
    )
    citation: str


class QueryTime(BaseModel):
    text: str
    after: str | None
    before: str | None


class SearchResults(BaseModel):
    query: str
    results: list[SearchHit]
    took_ms: float
    mode: str
    warnings: list[str]
    after: str | None = Field(None, description="The date filter applied (inclusive).")
    before: str | None = None
    query_time: QueryTime | None = Field(
        None, description="A time expression read from the question, and its dates."
    )


class ReindexRequest(BaseModel):
    force: bool = Field(False, description="Re-chunk every file, even unchanged ones.")


class JobAccepted(BaseModel):
    job_id: str
    status: str


class FileLines(BaseModel):
    path: str
    start_line: int
    end_line: int
    total_lines: int
    text: str


@router.get("/search", response_model=SearchResults)
async def search(
    request: Request,
    q: Annotated[
        str, Query(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for.")
    ],
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    after: Annotated[str | None, Query(max_length=40, description=AFTER_HELP)] = None,
    before: Annotated[str | None, Query(max_length=40, description=BEFORE_HELP)] = None,
) -> JSONResponse:
    """Hybrid keyword + meaning search; results cite `path#Lstart-Lend`."""
    if not q.strip():
        raise ApiError(422, "q: must contain something to search for")
    try:
        low, high = date_filter(after, before, date.today())
    except DateError as exc:
        raise ApiError(422, str(exc)) from None
    # The hot path: `SearchResponse.as_dict` already has the documented shape, and
    # re-validating it through the response model took a tenth of the API's GIL time (py-spy).
    found = await request.app.state.api.in_memory(
        lambda memory: memory.search(q, limit, after=low, before=high)
    )
    return JSONResponse(found.as_dict())


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    """Indexed and pending files, queue depth, failed jobs, last watcher event and reconcile."""
    state = request.app.state.api
    return await state.in_memory(lambda memory: memory_status(memory, state.queue))


@router.post("/reindex", status_code=202, response_model=JobAccepted)
def reindex(request: Request, body: ReindexRequest | None = None) -> dict[str, str]:
    """Queue a full reconcile of the workspace for a worker; returns the job id."""
    force = body.force if body else False
    job_id = request.app.state.api.queue.enqueue("reconcile", force=force)
    return {"job_id": job_id, "status": "queued"}


@router.get("/file", response_model=FileLines)
def file(
    request: Request,
    path: Annotated[str, Query(min_length=1, max_length=4096)],
    from_: Annotated[int, Query(alias="from", ge=1, description="First line (1-based).")] = 1,
    lines: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> dict[str, Any]:
    """Lines of a note: only markdown notes of the workspace (`shared.memory.access`); hidden
    files, `.git/`, other files, FIFOs and links out are refused (403), a missing note is 404."""
    workspace = request.app.state.api.config.workspace_dir
    try:
        return read_lines(workspace, path, from_, lines).as_dict()
    except OutsideWorkspaceError as exc:
        raise ApiError(403, str(exc)) from None
    except MemoryFileError as exc:
        raise ApiError(exc.status, str(exc)) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise ApiError(400, f"invalid path: {exc}") from None


class NoteSave(BaseModel):
    path: str = Field(
        min_length=1, max_length=1024, description="Workspace-relative, ending in .md."
    )
    text: str = Field(max_length=900_000)
    base_version: str | None = Field(
        None,
        max_length=64,
        description="The version the text was opened at (from GET /note); null creates a new note "
        "and refuses if it exists.",
    )


@router.get("/notes")
def notes(request: Request) -> dict[str, Any]:
    """Every markdown note in the workspace (for the page's tree), and today's daily log's path
    in the user's time zone."""
    from shared.agent.clock import user_now
    from shared.memory.notes import daily_note_path, list_notes

    config = request.app.state.api.config
    return {
        "notes": list_notes(config.workspace_dir),
        "today": daily_note_path(config, user_now(config)),
    }


@router.get("/note")
def note(
    request: Request, path: Annotated[str, Query(min_length=1, max_length=1024)]
) -> dict[str, Any]:
    """A whole note and its version (send the version back to save it)."""
    from shared.memory.notes import read_note

    with _note_errors():
        return read_note(request.app.state.api.config.workspace_dir, path).as_dict()


@router.put("/note")
def save(request: Request, body: NoteSave) -> dict[str, Any]:
    """Save a note atomically, refusing (409) if it changed since it was opened; the replaced
    version is kept in data/versions/. The note is queued for indexing at once."""
    from shared.agent.clock import user_now
    from shared.memory.notes import save_note

    state = request.app.state.api
    with _note_errors():
        saved = save_note(
            state.config, body.path, body.text, body.base_version, user_now(state.config)
        )
    job_id = state.queue.enqueue("index_paths", paths=[saved.path])
    log.info("note_saved", path=saved.path, created=saved.created, bytes=saved.bytes_written)
    return saved.as_dict() | {"job_id": job_id}


@contextmanager
def _note_errors() -> Iterator[None]:
    """Note errors as HTTP: 403 outside the workspace, 404 missing, 409 conflict, 400 else."""
    from shared.memory.notes import NoteConflict, NoteError, NoteMissing, NotePathError

    try:
        yield
    except OutsideWorkspaceError as exc:
        raise ApiError(403, str(exc)) from None
    except MemoryFileError as exc:  # the read rule: 403 not a note, 404 missing, 400 else
        raise ApiError(exc.status, str(exc)) from None
    except NoteConflict as exc:
        raise ApiError(409, str(exc), "conflict") from None
    except NoteMissing as exc:
        raise ApiError(404, str(exc)) from None
    except NotePathError as exc:
        raise ApiError(422, str(exc)) from None
    except NoteError as exc:
        raise ApiError(400, str(exc)) from None


class MemoryEdit(BaseModel):
    old: str = Field("", max_length=2 * 1024 * 1024, description="Exact passage; empty appends.")
    new: str = Field(..., max_length=MAX_ENTRY_CHARS, description="The replacement text.")
    confirm: bool = Field(
        False, description="The user confirmed an edit that removes a large share of the file."
    )


class RestoreRequest(BaseModel):
    version: str = Field(..., min_length=1, max_length=300)


def _now() -> datetime:
    return datetime.now().astimezone()


@router.post("/update")
def update(request: Request, body: MemoryEdit) -> Any:
    """Edit MEMORY.md as the memory_update tool does (marked as the assistant's). An edit
    removing more than a fifth of the file answers 409 with `confirm.pending_edit` unless
    `confirm` is true; every previous version is kept."""
    config = request.app.state.api.config
    try:
        done = update_memory_md(config, body.old, body.new, _now(), "api", body.confirm)
    except ConfirmationRequired as exc:
        return _confirmation_needed(exc)
    except MemoryWriteError as exc:
        raise ApiError(400, str(exc)) from None
    return done.as_dict()


@router.post("/pending/{pending_id}")
def apply_pending_edit(request: Request, pending_id: str) -> Any:
    """Apply an edit the assistant proposed and the user has now confirmed (the page's dialog)."""
    try:
        return apply_pending(request.app.state.api.config, pending_id, _now(), "api").as_dict()
    except PendingEditNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except MemoryWriteError as exc:
        raise ApiError(400, str(exc)) from None


@router.get("/history")
def history(request: Request) -> list[dict[str, Any]]:
    """The kept versions of MEMORY.md, newest first."""
    return [v.__dict__ for v in memory_versions(request.app.state.api.config)]


@router.post("/restore")
def restore(request: Request, body: RestoreRequest) -> dict[str, Any]:
    """Bring back a kept version of MEMORY.md; the current file is kept as a version first."""
    try:
        return restore_version(request.app.state.api.config, body.version, _now(), "api").as_dict()
    except VersionNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except MemoryWriteError as exc:
        raise ApiError(400, str(exc)) from None


def _confirmation_needed(exc: ConfirmationRequired) -> JSONResponse:
    body = {
        "error": {"code": "confirmation_required", "message": str(exc)},
        "confirm": {"pending_edit": exc.pending_id, "removed_share": round(exc.removed_share, 3)},
    }
    return JSONResponse(body, status_code=409)
