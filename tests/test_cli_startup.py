"""The CLI starts fast because command modules import heavy libraries only inside the commands
that use them (issue 20: `--help`, `status`, `config show`, `task list` in <= 0.4 s;
`bench/cli.py` measures it). These tests catch the regression itself, an import at the top of a
module, rather than timing anything: each runs in a fresh interpreter and lists what got loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

# What start-up must not pay for: each costs tens of milliseconds to seconds to import.
HEAVY = (
    "litellm",
    "openai",
    "fastembed",
    "onnxruntime",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "mcp",
    "numpy",
    "apsw",
    "sqlite_vec",
    "huey",
    "structlog",
    "httpx",
    "webview",
    "prompt_toolkit",
)
# Also kept out of `import shared.cli` (the commands that print with colour load it).
AT_IMPORT = (*HEAVY, "rich", "shared.agent", "shared.memory", "shared.logs")

PROBE = """
import json, sys
{body}
loaded = sorted({{m.split(".")[0] if not m.startswith("shared.") else ".".join(m.split(".")[:2])
                  for m in sys.modules}})
print("\\n" + json.dumps(loaded))
"""

RUN_COMMAND = """
from shared.cli.main import app
try:
    app({args!r}, prog_name="localgpt")
except SystemExit:
    pass
"""


def loaded_after(body: str, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library():
    loaded = loaded_after("import shared.cli")
    assert "typer" in loaded  # the probe sees what was imported
    assert not loaded & set(AT_IMPORT), sorted(loaded & set(AT_IMPORT))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["status"], ["config", "show"], ["task", "list"], ["task", "show", "abc"]],
    ids=" ".join,
)
def test_light_commands_load_no_heavy_library(args, home):
    """`status` and `task` fail here (no API runs), as they would on a user's machine: their
    error path stays light too."""
    import os

    loaded = loaded_after(RUN_COMMAND.format(args=args), env=dict(os.environ))
    assert "shared.cli" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_memory_search_does_not_import_the_embedding_library(home, workspace):
    """With no worker, the lean query encoder runs the model from its folder; fastembed (and
    its second of imports) is never needed for a search."""
    import os

    (workspace / "MEMORY.md").write_text("# Notes\n\nthe kingfisher dove\n")
    body = RUN_COMMAND.format(args=["memory", "search", "kingfisher"])
    loaded = loaded_after(body, env=dict(os.environ))
    assert "onnxruntime" in loaded  # the vectors were made here
    assert not loaded & {"fastembed", "litellm", "fastapi", "httpx"}


def test_ask_with_the_model_server_down_says_so_before_loading_anything(home, workspace):
    """It took 8.6 s (litellm's import, a memory search, then the call) to report a refused
    port; a connect check on the loopback endpoint answers first."""
    import os
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LOCALGPT_LOCAL_LLM_PORT": str(port)}
    env["LOCALGPT_LLM_MODEL"] = "local/smollm2-135m-instruct"
    body = RUN_COMMAND.format(args=["ask", "hello"])
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )  # fmt: skip
    assert f"cannot reach http://127.0.0.1:{port}/v1" in done.stderr
    assert "localgpt run llm" in done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & {"litellm", "openai", "onnxruntime", "fastembed"}


def test_every_lazily_registered_command_builds_with_its_help():
    """A name in `COMMANDS` that points nowhere would only fail when someone runs it."""
    from typer.main import get_command

    from shared.cli.main import COMMANDS, app

    root = get_command(app)
    ctx = root.make_context("localgpt", ["--help"], resilient_parsing=True)
    listed = root.list_commands(ctx)
    assert set(COMMANDS) <= set(listed) and {"init", "status", "config"} <= set(listed)
    for name in COMMANDS:
        command = root.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(200), name
    assert "llm" in root.get_command(ctx, "run").list_commands(ctx)
