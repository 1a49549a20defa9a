"""`localgpt logs`: the services' log files, merged, filtered and optionally followed."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Iterable
from typing import Annotated

import typer

from shared.cli.common import fail, get_config, warn
from shared.logview import (
    LogFilter,
    LogReader,
    LogViewError,
    Record,
    format_record,
    parse_level,
    parse_since,
)

FOLLOW_INTERVAL = 0.25  # seconds between polls while following
FOLLOW_DEFAULT_LINES = 10  # like `tail -f`: some context, then what comes


def logs(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", "-s", help="Only this service (repeat for several)."),
    ] = None,
    level: Annotated[
        str | None, typer.Option("--level", "-l", help="Minimum level: debug|info|warning|error.")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", "-t", help="Only events of this task id (or prefix).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only newer events: 10m, 1h30m, 2d or a timestamp."),
    ] = None,
    lines: Annotated[
        int | None,
        typer.Option(
            "--lines",
            "-n",
            min=0,
            help="Show only the last N matching events (default: all; 10 with -f).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON lines.")] = False,
) -> None:
    """Show what the services logged (merged in time order, rotated files included)."""
    try:
        log_filter = LogFilter(
            services=service or [],
            min_level=parse_level(level) if level else 0,
            task=task,
            since=parse_since(since) if since else None,
        )
    except LogViewError as exc:
        fail(str(exc), code=2)
    log_dir = get_config().logs_dir
    reader = LogReader(log_dir)
    if not follow and not reader.bases():
        warn(f"no log files in {log_dir} yet (services write them: `localgpt daemon start`)")
        return
    colour = _use_colour()
    limit = lines if lines is not None else (FOLLOW_DEFAULT_LINES if follow else None)
    try:
        matching = (r for r in reader.history() if log_filter.matches(r))
        _emit(deque(matching, maxlen=limit) if limit is not None else matching, as_json, colour)
        while follow:
            time.sleep(FOLLOW_INTERVAL)
            _emit((r for r in reader.poll() if log_filter.matches(r)), as_json, colour)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how following ends: a clean exit, no traceback
    except BrokenPipeError:
        _silence_stdout()  # `localgpt logs | head`: the reader left, so do we
    finally:
        reader.close()


def _emit(records: Iterable[Record], as_json: bool, colour: bool) -> None:
    out = sys.stdout
    for record in records:
        out.write((record.raw if as_json else format_record(record, colour)) + "\n")
    out.flush()


def _use_colour() -> bool:
    """Colour on a terminal; NO_COLOR (https://no-color.org) and FORCE_COLOR override."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
