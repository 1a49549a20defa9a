"""`localgpt`: the root command, `init`, `status` and `config`.

Every other command lives in its own module, named in `COMMANDS` below and imported only when
it runs (`shared/cli/lazy.py`). Those modules import only cheap things at the top and the heavy
ones (the memory engine, litellm, fastembed, FastAPI, rich...) inside the commands that use
them, so `localgpt --help` or `status` starts in a fraction of a second:
`tests/test_cli_startup.py` fails when a command pulls one of them in. A new command module
follows the same rule and adds one line to `COMMANDS`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shared.cli.common import console, fail, get_config, print_json, warn
from shared.cli.lazy import lazy_group

# name -> "module:attribute": a typer.Typer (a command group) or a function (one command).
COMMANDS = {
    "memory": "shared.cli.memory:app",
    "run": "shared.cli.run:app",
    "heartbeat": "shared.cli.heartbeat:app",
    "task": "shared.cli.task:app",
    "jobs": "shared.cli.jobs:app",
    "cron": "shared.cli.cron:app",
    "chat": "shared.cli.chat:chat",
    "ask": "shared.cli.chat:ask",
    "daemon": "shared.cli.daemon:app",
    "models": "shared.cli.models:app",
    "logs": "shared.cli.logs:logs",
    "open": "shared.cli.open:open_page",
    "mcp": "shared.cli.mcp:mcp_command",
    "desktop": "shared.cli.desktop:desktop",
}
# Commands that only read the config or talk to the API: they log nothing, so they skip the
# logging set-up (structlog's import is a good part of a start-up budget of 0.4 s).
QUIET_COMMANDS = frozenset({"status", "config", "task"})
SETTINGS = {
    # Plain help: typer's rich help imports rich's markdown, traceback and pretty-printing
    # modules, over half of `localgpt --help`'s time.
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
}

app = typer.Typer(
    help="LocalGPT: a local-first assistant whose memory is plain markdown you own.",
    no_args_is_help=True,
    cls=lazy_group(COMMANDS, **SETTINGS),
    **SETTINGS,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show info-level logs.")] = False,
) -> None:
    if verbose or ctx.invoked_subcommand not in QUIET_COMMANDS:
        from shared.logs import configure_logging

        configure_logging("cli", stream=sys.stderr, level="INFO" if verbose else "ERROR")


@app.command()
def init() -> None:
    """Create the LocalGPT home and an OpenClaw-compatible workspace (never overwrites files)."""
    from shared.workspace import init_home

    config = get_config()
    report = init_home(config)
    for path in report.created:
        console.print(f"[green]created[/] {path}", highlight=False)
    for path in report.kept:
        console.print(f"[dim]kept    {path} (already exists)[/]", highlight=False)
    console.print(f"Home: {config.home}\nWorkspace: {config.workspace_dir}", highlight=False)


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the effective configuration (file + environment overrides + defaults)."""
    import tomli_w

    data = get_config().as_dict()
    if as_json:
        print_json(data)
    else:
        sys.stdout.write(tomli_w.dumps(data))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Is the system up? The API's health, memory freshness, queue and heartbeat."""
    from shared.api_client import ApiClient, ApiUnavailable

    try:
        client = ApiClient(get_config())
        data = {
            "health": client.get("/health"),
            "memory": client.get("/api/memory/stats"),
            "heartbeat": client.get("/api/heartbeat/status"),
            "assistant": client.get("/api/assistant"),
        }
    except ApiUnavailable as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
        return
    health, mem, beat = data["health"], data["memory"], data["heartbeat"]
    bot = data["assistant"]
    console.print(
        f"[bold]api[/]        {health['status']} "
        + ", ".join(f"{k}: {v}" for k, v in health["checks"].items()),
        highlight=False,
    )
    console.print(
        f"[bold]memory[/]     {mem['files_indexed']} files, {mem['chunks']} chunks, "
        f"{mem['files_pending']} pending, queue {mem['queue_depth']}, "
        f"{mem['jobs_failed']} failed job(s)",
        highlight=False,
    )
    jobs = mem.get("jobs") or {}
    console.print(
        f"[bold]jobs[/]       {jobs.get('queued', 0)} queued "
        f"({mem.get('undelivered', 0)} awaiting delivery), {jobs.get('running', 0)} running, "
        f"{jobs.get('failed', 0)} failed",
        highlight=False,
    )
    console.print(
        f"[bold]model[/]      {bot['model']} at {bot['where']}; {bot['profile']['name']} "
        f"prompt ({bot['profile']['reason']})",
        highlight=False,
        soft_wrap=True,
    )
    if bot.get("reason"):
        console.print(f"           chosen because {bot['reason']}", highlight=False)
    if bot.get("warning"):
        warn(bot["warning"])
    console.print(
        f"[bold]heartbeat[/]  {'on' if beat.get('enabled') else 'off'}, next due "
        f"{beat.get('next_due')}",
        highlight=False,
    )


def main() -> None:
    app()
