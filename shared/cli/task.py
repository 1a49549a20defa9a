"""`localgpt task add | list | show`: delegate work to the background workers via the API."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from shared.api_client import ApiClient, ApiUnavailable
from shared.cli.common import console, fail, get_config, print_json

app = typer.Typer(
    help="Delegate tasks to the background workers (needs the API running).", no_args_is_help=True
)

FINAL = ("succeeded", "failed", "cancelled")


def _client() -> ApiClient:
    try:
        return ApiClient(get_config())
    except ApiUnavailable as exc:
        fail(str(exc))


@app.command()
def add(
    prompt: Annotated[str, typer.Argument(help="What the assistant should do.")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait and print the result.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 600,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue a task; with --wait, follow it until it finishes and print its answer."""
    client = _client()
    try:
        task = client.post("/api/tasks", {"prompt": prompt})
        if wait:
            task = _wait(client, task["id"], timeout)
    except ApiUnavailable as exc:
        fail(str(exc))
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
            task = client.get(f"/api/tasks/{task_id}")
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
    try:
        tasks = _client().get("/api/tasks", status=status, limit=limit)["tasks"]
    except ApiUnavailable as exc:
        fail(str(exc))
    if as_json:
        print_json(tasks)
        return
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
    """One task: status, timings, result or error."""
    try:
        task = _client().get(f"/api/tasks/{task_id}")
    except ApiUnavailable as exc:
        fail(str(exc))
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
