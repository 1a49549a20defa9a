"""`localgpt jobs list | show | cancel`: every unit of background work, from the ledger.

Reads `data/jobs.db` directly (no API needed, and a read takes no write lock).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shared.cli.common import console, escape, fail, get_config, print_json

app = typer.Typer(
    help="Background work: index jobs, tasks, heartbeat and scheduled runs.", no_args_is_help=True
)


def _ledger():
    from shared.ledger import JobLedger

    return JobLedger(get_config().jobs_db)


@app.command("list")
def list_(
    kind: Annotated[
        str | None,
        typer.Option(help="index_paths|remove_paths|reconcile|task|heartbeat|cron, or index|runs"),
    ] = None,
    state: Annotated[
        str | None, typer.Option(help="queued|running|succeeded|failed|cancelled")
    ] = None,
    schedule: Annotated[
        str | None, typer.Option(help="Runs of one scheduled job (id or name).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recent jobs, newest first."""
    from shared.jobview import job_view, list_jobs
    from shared.ledger import JobError

    ledger = _ledger()
    schedule_id = None
    if schedule:
        from shared.cron import get_schedule

        try:
            schedule_id = get_schedule(ledger, schedule).id
        except LookupError as exc:
            fail(str(exc))
    try:
        jobs = list_jobs(ledger, kind, state, schedule_id, limit)
    except JobError as exc:
        fail(str(exc))
    if as_json:
        print_json([job_view(j, full=False) for j in jobs])
        return
    if not jobs:
        console.print("No jobs.")
        return
    from rich.table import Table

    table = Table("id", "kind", "state", "tries", "created", "what")
    for job in jobs:
        view = job_view(job, full=False)
        table.add_row(
            job.id[:12],
            job.kind,
            job.state,
            str(job.attempts),
            (view["created_at"] or "")[:19],
            escape(view["title"][:60]),
        )
    console.print(table)


@app.command()
def show(
    job_id: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """One job: state, attempts, timings, result or error, token usage, its session."""
    from shared.jobview import job_view

    job = _find(job_id)
    view = job_view(job)
    if as_json:
        print_json(view)
        return
    for key in (
        "id",
        "kind",
        "state",
        "attempts",
        "title",
        "created_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "session_id",
        "schedule_id",
        "slot",
        "model",
        "last_error",
        "notice",
    ):
        if view.get(key) not in (None, ""):
            console.print(f"[bold]{key:<12}[/] {escape(str(view[key]))}", highlight=False)
    if job.total_tokens:
        usage = view["usage"]
        console.print(
            f"[bold]{'tokens':<12}[/] {usage['total_tokens']} ({usage['prompt_tokens']} prompt, "
            f"{usage['completion_tokens']} completion; {usage['model_calls']} model calls)",
            highlight=False,
        )
    if job.summary:
        console.print(f"[bold]{'summary':<12}[/] {escape(json.dumps(job.summary))}")
    if job.result:
        console.print(escape(job.result), highlight=False)


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a queued job, or stop a running task, heartbeat or scheduled run."""
    from shared.jobview import cancel_job
    from shared.ledger import JobError

    job = _find(job_id)
    try:
        done = cancel_job(_ledger(), job.id)
    except JobError as exc:
        fail(str(exc))
    console.print(f"job [bold]{done.id}[/] {done.state}", highlight=False)


def _find(job_id: str):
    """A job by its id, or by a unique start of it (as `jobs list` and the page show)."""
    from shared.ids import IdLookupError

    ledger = _ledger()
    try:
        job = ledger.get(ledger.resolve(job_id))
    except IdLookupError as exc:
        fail(str(exc))
    if job is None:  # removed meanwhile
        fail(f"no job {job_id!r}")
    return job
