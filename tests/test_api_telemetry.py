"""Nothing leaves the API process unasked: FastAPI's native OpenTelemetry stays off even when
the environment has configured a global tracer provider (its spans would carry `url.query`,
the user's search text)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

# Registers a tracer provider, as an instrumented environment would, sends one request through
# an app and prints how often the app asked the provider for a tracer.
SCRIPT = """
import sys
from pathlib import Path
from opentelemetry import trace

class Recording(trace.TracerProvider):
    asked = 0
    def get_tracer(self, *args, **kwargs):
        Recording.asked += 1
        return trace.NoOpTracer()

trace.set_tracer_provider(Recording())
sys.path.insert(0, "tests")
if sys.argv[1] == "api":
    from test_services import make_home
    from services.api import asgi_app, create_app
    app = asgi_app(create_app(make_home(Path(sys.argv[2]))), "127.0.0.1")
elif sys.argv[1] == "model-server":
    from services.llm.engine import Engine
    from services.llm.server import create_app
    app = create_app(Engine("http://127.0.0.1:9", "key", Path("none.gguf")))  # /health: no model
else:
    from fastapi import FastAPI
    app = FastAPI()

from asgi import asgi_get
asgi_get(app, "/health" if sys.argv[1] == "model-server" else "/api/memory/stats")
print(Recording.asked)
"""


def tracer_requests(app: str, home: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, app, home], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize(
    "app, traced", [("fastapi-default", True), ("api", False), ("model-server", False)]
)
def test_requests_are_never_traced(tmp_path, app, traced):
    """The default app (the control) asks the provider for a tracer; ours never do."""
    assert (tracer_requests(app, str(tmp_path)) > 0) is traced
