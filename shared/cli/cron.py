"""`localgpt cron add | list | show | remove | run-now | pause | resume`: scheduled jobs.

Works on the ledger's file directly (no API needed); the heartbeat process (`localgpt run
heartbeat`, part of `honcho start`) fires the runs and a worker runs them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from shared.cli.common import console, escape, fail, get_config, print_json

app = typer.Typer(
    help="Scheduled jobs: a prompt the assistant runs on a schedule (heartbeat process).",
    no_args_is_help=True,
)


def _queue():
    from shared.queue import Queue

    return Queue(get_config())


def _ledger():
    """Reading and editing schedules needs only the ledger (a read takes no write lock)."""
    from shared.ledger import JobLedger

    return JobLedger(get_config().jobs_db)


@app.command()
def add(
    prompt: Annotated[str, typer.Argument(help="What the assistant should do each time.")],
    every: Annotated[
        str | None, typer.Option(help="A fixed period: 30m, 1h, 1d (at least 1m).")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help="A 5-field cron expression, e.g. '0 8 * * 1-5'.")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Once, at a date and time: 2026-12-24T09:00.")
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="IANA time zone for --cron and --at (default: local).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name to refer to it by.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Schedule a prompt: exactly one of --every, --cron or --at."""
    from shared.cron import CronError, add_schedule, parse_spec

    config = get_config()
    ledger = _ledger()
    try:
        spec = parse_spec(
            datetime.now(UTC),
            every=every,
            cron=cron,
            at=at,
            tz=tz,
            default_tz=config.agent.timezone,
        )
        schedule = add_schedule(ledger, config, prompt, spec, name)
    except CronError as exc:
        fail(str(exc), code=2)
    if as_json:
        print_json(schedule.as_dict())
        return
    data = schedule.as_dict()
    console.print(
        f"scheduled [bold]{escape(schedule.name)}[/] ({escape(data['schedule'])}); "
        f"next run {data['next_run']}",
        highlight=False,
    )


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every scheduled job: schedule, next run, last run, runs so far."""
    from shared.cron import list_schedules

    schedules = [s.as_dict() for s in list_schedules(_ledger())]
    if as_json:
        print_json(schedules)
        return
    if not schedules:
        console.print("No scheduled jobs. Add one with `localgpt cron add`.")
        return
    from rich.table import Table

    table = Table("name", "schedule", "status", "next run", "last run", "runs")
    for s in schedules:
        table.add_row(
            escape(s["name"]),
            escape(s["schedule"]),
            s["status"],
            (s["next_run"] or "-")[:19],
            (s["last_run"] or "-")[:19],
            str(s["runs"]),
        )
    console.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="Name or id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One scheduled job and its recent runs."""
    from shared.jobview import job_view

    ledger = _ledger()
    schedule = _get(ledger, ref)
    data = schedule.as_dict()
    data["recent_runs"] = [
        job_view(j, full=False) for j in ledger.list(schedule_id=schedule.id, limit=10)
    ]
    if as_json:
        print_json(data)
        return
    for key in ("name", "id", "schedule", "status", "next_run", "last_run", "runs", "skipped"):
        console.print(f"[bold]{key:<10}[/] {escape(str(data[key]))}", highlight=False)
    console.print(f"[bold]{'prompt':<10}[/] {escape(schedule.prompt)}", highlight=False)
    for run in data["recent_runs"]:
        console.print(
            f"  {run['created_at'][:19]}  {run['state']:<10} {run['id']}", highlight=False
        )


@app.command()
def remove(ref: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete a scheduled job (its past runs stay in `localgpt jobs`)."""
    from shared.cron import remove_schedule

    try:
        schedule = remove_schedule(_ledger(), ref)
    except LookupError as exc:
        fail(str(exc))
    console.print(f"removed [bold]{escape(schedule.name)}[/]", highlight=False)


@app.command("run-now")
def run_now_(ref: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Run it now, outside its schedule (a worker runs it)."""
    from shared.cron import CronError, run_now

    try:
        job = run_now(_queue(), ref)
    except (LookupError, CronError) as exc:
        fail(str(exc))
    console.print(f"queued run [bold]{job.id}[/] (see `localgpt jobs show {job.id}`)")


@app.command()
def pause(ref: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Stop firing it until resumed."""
    _set_paused(ref, True)


@app.command()
def resume(ref: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Fire it again, from the next slot after now (slots passed while paused are skipped)."""
    _set_paused(ref, False)


def _set_paused(ref: str, paused: bool) -> None:
    from shared.cron import set_paused

    try:
        schedule = set_paused(_ledger(), ref, paused)
    except LookupError as exc:
        fail(str(exc))
    data = schedule.as_dict()
    console.print(
        f"[bold]{escape(schedule.name)}[/] {data['status']}; next run {data['next_run']}",
        highlight=False,
    )


def _get(ledger, ref: str):
    from shared.cron import get_schedule

    try:
        return get_schedule(ledger, ref)
    except LookupError as exc:
        fail(str(exc))
