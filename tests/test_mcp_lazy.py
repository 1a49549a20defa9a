"""The API loads the MCP SDK (~0.5 s, ~26 MB) on the first `/mcp` request, not at start."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

PROBE = """
import sys
from shared.config import load_config
from services.api import create_app
create_app(load_config())
print(sorted(m for m in sys.modules if m == "mcp" or m.startswith(("mcp.", "mcp_types"))))
"""


def test_the_api_starts_without_the_mcp_sdk(home):
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
