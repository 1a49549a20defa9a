"""`/api/memory/*`: search, stats, reindex and file reads (workspace-confined)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.api.errors import ApiError
from shared.memory.lines import LinesError, read_lines
from shared.memory.search import MAX_LIMIT
from shared.status import memory_status
from shared.workspace import OutsideWorkspaceError

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
    citation: str


class SearchResults(BaseModel):
    query: str
    results: list[SearchHit]
    took_ms: float
    mode: str
    warnings: list[str]


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
) -> JSONResponse:
    """Hybrid keyword + meaning search; results cite `path#Lstart-Lend`."""
    if not q.strip():
        raise ApiError(422, "q: must contain something to search for")
    # The hot path: `SearchResponse.as_dict` already has the documented shape, and
    # re-validating it through the response model took a tenth of the API's GIL time (py-spy).
    found = await request.app.state.api.in_memory(lambda memory: memory.search(q, limit))
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
    """Lines of a workspace file; paths outside the workspace are refused (403)."""
    workspace = request.app.state.api.config.workspace_dir
    try:
        return read_lines(workspace, path, from_, lines).as_dict()
    except OutsideWorkspaceError as exc:
        raise ApiError(403, str(exc)) from None
    except LinesError as exc:
        status = 404 if "does not exist" in str(exc) else 400
        raise ApiError(status, str(exc)) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise ApiError(400, f"invalid path: {exc}") from None
