"""Issue 20: `localgpt chat` has line editing and a history (Up used to print `^[[A`).

A person's terminal, really: tmux (Debian's; `.ci/run` installs it) runs `localgpt chat` in a
pseudo-terminal, `send-keys` types and `capture-pane` reads the screen. No cloud model can be
reached here, so the model is `ScriptedServer` (tests/scripted_server.py), a real
OpenAI-compatible server on loopback.
"""

from __future__ import annotations

import shlex
import shutil
import stat
import subprocess
import sys

import pytest
from conftest import MODEL_INT8, ROOT, write
from processes import service_env, wait_for
from scripted_server import Reply, ScriptedServer
from test_services import make_home

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

PROMPT = "you> "
PROMPT_SHOWN = PROMPT.rstrip()  # capture-pane drops trailing spaces


class Terminal:
    """One tmux server of the test's own (its socket in tmp_path), one window."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, script: str) -> None:
        self.tmux("new-session", "-d", "-s", "chat", "-x", "160", "-y", "50", script)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "chat", "-S", "-200")

    def type(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "chat", *keys)

    def wait_for_text(self, text: str, count: int = 1, timeout: float = 60) -> str:
        return wait_for(
            lambda: (screen := self.screen()).count(text) >= count and screen,
            timeout,
            f"{text!r} x{count} on the screen",
        )

    def prompt_line(self) -> str:
        """The line being typed: the last prompt on the screen."""
        lines = [ln for ln in self.screen().splitlines() if ln.startswith(PROMPT_SHOWN)]
        return lines[-1] if lines else ""

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminals(tmp_path):
    """Makes terminals, each on a tmux server of its own (a server whose last window closed
    exits, and must not be reused); all are closed at the end."""
    made: list[Terminal] = []

    def make() -> Terminal:
        made.append(Terminal(str(tmp_path / f"tmux-{len(made)}.sock")))
        return made[-1]

    yield make
    for term in made:
        term.close()


def chat_script(tmp_path, home, model: ScriptedServer) -> str:
    """A shell script that runs `localgpt chat` with the test's environment."""
    env = service_env(home, MODEL_INT8)
    exports = "".join(
        f"export {k}={shlex.quote(v)}\n"
        for k, v in env.items()
        if k.isidentifier() and not k.startswith("TMUX")
    )
    script = tmp_path / "chat.sh"
    script.write_text(
        f"#!/bin/sh\n{exports}cd {shlex.quote(str(ROOT))}\n"
        f"exec {shlex.quote(sys.executable)} -m shared.cli chat\n"
    )
    script.chmod(0o700)
    return str(script)


def test_up_recalls_the_previous_line_and_history_survives_the_session(tmp_path, terminals):
    config = make_home(tmp_path)
    write(config.workspace_dir / "memory" / "2026-11-20.md", "# Garden\n\n- Built the fence.\n")
    with ScriptedServer(replies=[Reply("First answer."), Reply("Second answer."),
                                 Reply("Third answer.")]) as model:  # fmt: skip
        with open(config.home / "config.toml", "a") as handle:
            handle.write(f'[llm]\nmodel = "openai/{model.model}"\napi_base = "{model.base_url}"\n')
        script = chat_script(tmp_path, config.home, model)

        terminal = terminals()
        terminal.start(script)
        terminal.wait_for_text(PROMPT_SHOWN)
        terminal.type("what did I build in the garden", "Enter")
        terminal.wait_for_text("First answer.")
        terminal.wait_for_text(PROMPT_SHOWN, count=2)

        terminal.type("Up")  # the previous line comes back, editable
        wait_for(
            lambda: terminal.prompt_line() == PROMPT + "what did I build in the garden",
            10,
            "Up to recall the previous line",
        )
        assert "^[[A" not in terminal.screen()
        terminal.type("C-a", "Right", "Right", "Right", "Right", "BSpace")  # edit in place
        terminal.type("Enter")
        terminal.wait_for_text("Second answer.")
        asked = [r["messages"][-1]["content"] for r in model.requests]
        assert any("wha did I build in the garden" in q for q in asked), asked

        terminal.type("/quit", "Enter")
        history = config.chat_history_file
        wait_for(lambda: "/quit" in history.read_text(), 10, "the history file")
        assert stat.S_IMODE(history.stat().st_mode) == 0o600  # what the user typed is private
        assert history.read_text().splitlines()[-3:] == [
            "what did I build in the garden",
            "wha did I build in the garden",
            "/quit",
        ]

        # A new chat: Up reaches the lines of the last one.
        terminal = terminals()
        terminal.start(script)
        terminal.wait_for_text(PROMPT_SHOWN)
        terminal.type("Up", "Up")
        wait_for(
            lambda: terminal.prompt_line() == PROMPT + "wha did I build in the garden",
            10,
            "Up to reach the previous session's lines",
        )
        terminal.type("C-u", "/quit", "Enter")
