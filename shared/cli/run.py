"""`localgpt run <service>`: start one long-running process (as honcho's Procfile does)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shared.cli.common import fail, get_config
from shared.config import Config

app = typer.Typer(help="Run one LocalGPT service in the foreground.", no_args_is_help=True)


def _start(service: str) -> Config:
    """Service logging (see `start_logging`); the home is initialised on first run."""
    from shared.workspace import init_home

    config = get_config()
    start_logging(service, config)
    init_home(config)
    return config


def start_logging(service: str, config: Config) -> None:
    """JSON logs tagged with the service on stdout (for honcho) and in logs/<service>.jsonl."""
    from shared.logs import LogFileBusy, configure_logging
    from shared.token import token_path

    try:
        configure_logging(
            service, stream=sys.stdout, log_dir=config.logs_dir, token_file=token_path(config)
        )
    except (OSError, LogFileBusy) as exc:
        fail(f"cannot open the log file of {service}: {exc}")
    except ValueError as exc:  # an unknown LOG_LEVEL
        fail(str(exc))


@app.command()
def worker(
    threads: Annotated[
        int | None, typer.Option("--threads", "-w", min=1, max=32, help="Worker threads.")
    ] = None,
) -> None:
    """Run a queue worker: executes indexing jobs (and, later, tasks) from the queue."""
    from services.worker import Worker

    Worker(_start("worker"), threads=threads).run()


@app.command()
def indexer() -> None:
    """Watch the workspace and enqueue indexing jobs for whatever changes."""
    from services.indexer import Indexer

    Indexer(_start("indexer")).run()


@app.command()
def api(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind.")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535)] = None,
) -> None:
    """Serve the HTTP API (loopback only unless [server] allow_remote = true)."""
    from services.api import RemoteBindRefused, serve

    config = _start("api")
    try:
        serve(config, host or config.server.host, port or config.server.port)
    except RemoteBindRefused as exc:
        fail(str(exc), code=2)


@app.command("heartbeat")
def heartbeat_service() -> None:
    """Run the scheduler: HEARTBEAT.md's standing tasks in active hours, plus housekeeping."""
    from services.heartbeat import HeartbeatService

    HeartbeatService(_start("heartbeat")).run()


from shared.cli.llm import llm_command  # noqa: E402  (its own module: the model server's options)

app.command("llm")(llm_command)
