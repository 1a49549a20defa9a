"""What every command needs: the effective config, consoles, and a clean way to fail.

Start-up time matters here (`localgpt status` should answer in well under half a second), so
this module, like every command module, imports only the standard library, typer and cheap
parts of `shared` at the top: rich, the memory engine, litellm and the like are imported inside
the commands that use them. `tests/test_cli_startup.py` keeps it so.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from shared.config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich Console made on first use: importing rich costs tens of milliseconds that
    commands printing plain text (`config show`) or nothing at all never pay."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def rich(self) -> Console:
        """The real Console, for rich objects that take one (progress bars)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)


console = LazyConsole()
err_console = LazyConsole(stderr=True)


def escape(text: str) -> str:
    """rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def fail(message: str, code: int = 1) -> NoReturn:
    """One clear line on stderr, no traceback."""
    _tell("error:", "1;31", message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    _tell("warning:", "33", message)


def _tell(label: str, colour: str, message: str) -> None:
    """A labelled line on stderr, the label coloured on a terminal (without rich: an error
    path should not pay for loading it)."""
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        label = f"\x1b[{colour}m{label}\x1b[0m"
    sys.stderr.write(f"{label} {message}\n")
    sys.stderr.flush()


def get_config() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        fail(str(exc), code=2)


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
