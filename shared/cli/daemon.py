"""`localgpt daemon start | stop | status`: the Procfile's services in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.cli.common import console, escape, fail, get_config, print_json, warn
from shared.config import Config
from shared.daemon import STOP_TIMEOUT, Daemon, DaemonError, ProcessState, last_stderr_line

app = typer.Typer(help="Run the services in the background (no terminal).", no_args_is_help=True)

ProcfileOption = Annotated[
    Path | None,
    typer.Option(
        "--procfile",
        help="Procfile to run (default: $LOCALGPT_PROCFILE, else the one in the checkout).",
        dir_okay=False,
    ),
]
_STATE_STYLE = {"running": "green", "dead": "bold red", "stopped": "dim"}


def _daemon(procfile: Path | None) -> Daemon:
    return Daemon(get_config(), procfile.resolve() if procfile else None)


@app.command()
def start(
    procfile: ProcfileOption = None,
    settle: Annotated[
        float,
        typer.Option(min=0, max=60, help="Seconds to watch for a service that exits at once."),
    ] = 1.5,
) -> None:
    """Start every Procfile service detached; refuses while they already run."""
    daemon = _daemon(procfile)
    try:
        states, stale = daemon.start(settle=settle)
    except DaemonError as exc:
        fail(str(exc))
    if stale:
        warn("removed a stale pid file (its processes were gone)")
    for state in states:
        console.print(f"[green]started[/] {escape(state.name)} (pid {state.pid})", highlight=False)
    console.print(
        f"Logs: {escape(str(daemon.config.logs_dir))} (`localgpt logs -f`)", highlight=False
    )


@app.command()
def stop(
    timeout: Annotated[
        float, typer.Option(min=0, help="Seconds to wait after SIGTERM before SIGKILL.")
    ] = STOP_TIMEOUT,
) -> None:
    """Stop the services: SIGTERM, wait, then SIGKILL whatever did not stop in time."""
    results = _daemon(None).stop(timeout=timeout)
    if not results:
        console.print("not running", highlight=False)
        return
    failed = False
    for result in results:
        label = f"{escape(result.name)} (pid {result.pid})"
        if result.outcome == "stopped":
            console.print(f"[green]stopped[/] {label}", highlight=False)
        elif result.outcome == "already dead":
            console.print(f"[dim]{label} had already exited[/]", highlight=False)
        elif result.outcome == "killed":
            warn(f"{label} did not stop within {timeout:g} s after SIGTERM; killed it (SIGKILL)")
        else:
            failed = True
            warn(f"{label} survived SIGKILL; check it with `ps -p {result.pid}`")
    if failed:
        raise typer.Exit(1)


@app.command()
def status(
    procfile: ProcfileOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each service's state. Exit code 0: all running, 1: some dead, 3: not running."""
    daemon = _daemon(procfile)
    states = daemon.status()
    if as_json:
        print_json(
            {
                "pid_file": str(daemon.pid_file),
                "services": [_as_dict(s, daemon.config) for s in states],
            }
        )
    else:
        for state in states:
            console.print(_line(state, daemon.config), highlight=False)
    if any(s.state == "dead" for s in states):
        raise typer.Exit(1)
    if not any(s.state == "running" for s in states):
        raise typer.Exit(3)


def _as_dict(state: ProcessState, config: Config) -> dict:
    uptime = state.uptime
    last = last_stderr_line(config, state.name) if state.state == "dead" else None
    return {
        "name": state.name,
        "state": state.state,
        "pid": state.pid,
        "started_at": state.started_at,
        "uptime_seconds": round(uptime, 1) if uptime is not None else None,
        "last_stderr": last,
        "outside_daemon": state.outside,
    }


def _line(state: ProcessState, config: Config) -> str:
    style = _STATE_STYLE.get(state.state, "")
    text = f"{escape(state.name):<12} [{style}]{state.state:<8}[/]"
    if state.pid is not None:
        text += f" pid {state.pid}"
    if state.uptime is not None:
        text += f"  up {_duration(state.uptime)}"
    if state.outside:
        text += f"  (+{state.outside} running outside the daemon)"
    if state.state == "dead":
        last = last_stderr_line(config, state.name)
        text += f"  (last stderr: {escape(last)})" if last else "  (no stderr output)"
    return text


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
