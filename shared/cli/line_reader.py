"""Reading typed lines with editing and a history, for `localgpt chat`.

The standard library's readline (GNU readline on Linux, libedit on macOS) gives `input()` line
editing, Up/Down through earlier lines and Ctrl-R search, with no dependency. The history is
kept in the LocalGPT home (mode 0600: it holds what the user typed), one line appended as each
is read, so it survives a crash; it is trimmed to `MAX_LINES` when a chat starts. Where there is
no readline (Windows) or stdin is not a terminal (a pipe, a test), lines are read plainly.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

MAX_LINES = 1000


class LineReader:
    def __init__(self, history: Path, commands: Sequence[str] = ()) -> None:
        self.history = history
        self.commands = tuple(commands)
        self._readline = _terminal_readline()
        if self._readline is not None:
            self._start(self._readline)

    def read(self, prompt: str) -> str:
        """One line (EOFError at Ctrl-D, KeyboardInterrupt at Ctrl-C, as `input`)."""
        line = input(prompt)
        if self._readline is not None and line.strip():
            self._remember(self._readline)
        return line

    def _start(self, readline: ModuleType) -> None:
        readline.set_history_length(MAX_LINES)
        with contextlib.suppress(OSError):
            self.history.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.history, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            readline.read_history_file(self.history)
            if readline.get_current_history_length() >= MAX_LINES:
                readline.write_history_file(self.history)  # keeps the last MAX_LINES
        readline.set_completer(self._complete)
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")

    def _remember(self, readline: ModuleType) -> None:
        """readline has added the line; drop it if it repeats the one before, else save it."""
        count = readline.get_current_history_length()
        if count >= 2 and readline.get_history_item(count) == readline.get_history_item(count - 1):
            readline.remove_history_item(count - 1)
            return
        with contextlib.suppress(OSError):
            readline.append_history_file(1, self.history)

    def _complete(self, text: str, state: int) -> str | None:
        matches = [c + " " for c in self.commands if c.startswith(text)] if text else []
        return matches[state] if state < len(matches) else None


def _terminal_readline() -> ModuleType | None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return None
    try:
        import readline
    except ImportError:  # Windows: plain input
        return None
    return readline
