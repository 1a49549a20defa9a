"""`localgpt task add | list | show | cancel`: delegate work to the background workers via the
API. A task id may be given whole or by a unique start of it (the page shows 8 characters)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from shared.cli.common import console, escape, fail, get_config, print_json

if TYPE_CHECKING:
    from shared.api_client import ApiClient

app = typer.Typer(
    help="Delegate tasks to the background workers (needs the API running).", no_args_is_help=True
)

FINAL = ("succeeded", "failed", "cancelled")


@contextmanager
def _api() -> Iterator[ApiClient]:
    """The API client; any failure talking to the API ends the command with one line."""
    from shared.api_client import ApiClient, ApiUnavailable

    try:
        yield ApiClient(get_config())
    except ApiUnavailable as exc:
        fail(str(exc))


def _task_path(task_id: str) -> str:
    from shared.api_client import path_part

    return f"/api/tasks/{path_part(task_id)}"


@app.command()
def add(
    prompt: Annotated[str, typer.Argument(help="What the assistant should do.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait and print the result.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 600,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue a task; with --wait, follow it until it finishes and print its answer."""
    with _api() as client:
        task = client.post("/api/tasks", {"prompt": prompt})
        if wait:
            task = _wait(client, task["id"], timeout)
    if as_json:
        print_json(task)
    elif not wait:
        console.print(f"queued task [bold]{task['id']}[/]")
    else:
        _print_outcome(task)


def _wait(client: ApiClient, task_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    with console.status("waiting for a worker...") as spinner:
        while True:
            task = client.get(_task_path(task_id))
            spinner.update(f"task {task_id}: {task['status']}")
            if task["status"] in FINAL:
                return task
            if time.monotonic() > deadline:
                fail(
                    f"task {task_id} still {task['status']} after {timeout:.0f} s "
                    "(is a worker running?)"
                )
            time.sleep(0.5)


def _print_outcome(task: dict) -> None:
    if task["status"] == "succeeded":
        console.print(escape(task["result"] or ""), highlight=False)
    else:
        fail(f"task {task['id']} {task['status']}: {task.get('error') or ''}".strip())


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option(help="queued|running|succeeded|failed|cancelled")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recent tasks, newest first."""
    with _api() as client:
        tasks = client.get("/api/tasks", status=status, limit=limit)["tasks"]
    if as_json:
        print_json(tasks)
        return
    from rich.table import Table

    table = Table("id", "status", "created", "prompt")
    for task in tasks:
        table.add_row(
            task["id"], task["status"], task["created_at"][:19], escape(task["prompt"][:60])
        )
    console.print(table)


@app.command()
def show(
    task_id: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """One task: status, timings, result or error (the id, or a unique start of it)."""
    with _api() as client:
        task = client.get(_task_path(task_id))
    if as_json:
        print_json(task)
        return
    for key in (
        "id",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "total_tokens",
        "error",
    ):
        if task.get(key) is not None:
            console.print(f"[bold]{key:<12}[/] {escape(str(task[key]))}", highlight=False)
    if task.get("result"):
        console.print(escape(task["result"]), highlight=False)


@app.command()
def cancel(
    task_id: str, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Cancel a queued task, or stop a running one (the id, or a unique start of it)."""
    with _api() as client:
        task = client.delete(_task_path(task_id))
    if as_json:
        print_json(task)
    else:
        console.print(f"task [bold]{task['id']}[/] {task['status']}", highlight=False)
