"""A job record as people and programs read it (`localgpt jobs`, `/api/jobs`, the page)."""

from __future__ import annotations

from typing import Any

from shared.ledger import INDEX_KINDS, KINDS, MODEL_KINDS, STATES, Job, JobError, JobLedger
from shared.tasks import iso

GROUPS = {"index": INDEX_KINDS, "runs": MODEL_KINDS}


def job_view(job: Job, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "attempts": job.attempts,
        "title": describe(job),
        "last_error": job.last_error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "duration_ms": job.duration_ms,
        "session_id": job.session_id,
        "schedule_id": job.schedule_id,
        "slot": iso(job.slot),
        "total_tokens": job.total_tokens,
    }
    if full:
        out |= {
            "args": job.args,
            "summary": job.summary,
            "updated_at": iso(job.updated_at),
            "delivered": job.delivered_to is not None,
            "prompt": job.title,
            "result": job.result,
            "notice": job.notice,
            "sources": job.sources or [],
            "model": job.model,
            "usage": {
                "prompt_tokens": job.prompt_tokens,
                "completion_tokens": job.completion_tokens,
                "total_tokens": job.total_tokens,
                "model_calls": job.model_calls,
                "tool_calls": job.tool_calls,
            },
        }
    return out


def describe(job: Job) -> str:
    """One line saying what the job is."""
    if job.kind in ("index_paths", "remove_paths"):
        paths = job.args.get("paths") or []
        more = f" (+{len(paths) - 1} more)" if len(paths) > 1 else ""
        return f"index {paths[0]}{more}" if paths else "index (no paths)"
    if job.kind == "reconcile":
        return "full reindex" if job.args.get("force") else "reconcile the index with the disk"
    if job.kind == "heartbeat":
        return f"heartbeat run (decision {job.args.get('decision_id')})"
    if job.kind == "cron":
        return f"{job.args.get('name') or 'scheduled'}: {job.title or ''}"
    return job.title or job.kind


def parse_kind(kind: str | None) -> tuple[str, ...] | None:
    """A kind, or a group (`index`: the three index kinds; `runs`: task, heartbeat, cron)."""
    if not kind or kind == "all":
        return None
    if kind in GROUPS:
        return GROUPS[kind]
    if kind not in KINDS:
        names = ", ".join((*KINDS, *GROUPS))
        raise JobError(f"unknown job kind {kind!r}; use one of {names}")
    return (kind,)


def list_jobs(
    ledger: JobLedger,
    kind: str | None = None,
    state: str | None = None,
    schedule_id: str | None = None,
    limit: int = 50,
) -> list[Job]:
    if state is not None and state not in STATES:
        raise JobError(f"unknown state {state!r}; use one of {', '.join(STATES)}")
    return ledger.list(kind=parse_kind(kind), state=state, schedule_id=schedule_id, limit=limit)


def cancel_job(ledger: JobLedger, job_id: str) -> Job:
    """Cancel queued work of any kind; stop a running model run. A running index job is not
    stopped half-way (it is safe to let it finish, and it does not take long)."""
    job = ledger.get(job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job.state == "running" and job.kind not in MODEL_KINDS:
        raise JobError(f"job {job_id} is a running {job.kind}; index jobs finish what they began")
    return ledger.cancel(job_id)


def latest_run(ledger: JobLedger, kind: str) -> dict[str, Any] | None:
    """The newest job of a kind (e.g. the last heartbeat run: its state from the ledger)."""
    jobs = ledger.list(kind=kind, limit=1)
    return job_view(jobs[0], full=False) if jobs else None
