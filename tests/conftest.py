"""Shared fixtures: a throw-away LocalGPT home per test, and the real embedding model.

The model comes from `../shared/models` beside the repo (or $LOCALGPT_TEST_MODEL_PATH); these
machines cannot download it, and tests never replace it with a double.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import processes
import pytest

from shared.config import Config, load_config
from shared.memory import Memory
from shared.memory.embedder import Embedder
from shared.workspace import init_home

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
MODEL_INT8 = Path(
    os.environ.get("LOCALGPT_TEST_MODEL_PATH", SHARED_MODELS / "all-MiniLM-L6-v2-onnx-int8")
)
MODEL_FP32 = SHARED_MODELS / "all-MiniLM-L6-v2-onnx"


def pytest_configure(config: pytest.Config) -> None:
    if not (MODEL_INT8 / "model.onnx").is_file():
        raise pytest.UsageError(
            f"the embedding model is missing at {MODEL_INT8}; tests need the real model "
            "(set LOCALGPT_TEST_MODEL_PATH to a fastembed model folder)"
        )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Which model answers depends on what this machine has (shared/models/choose.py): a
    # developer's running Ollama or cloud key must not change what the tests see. Tests that
    # mean one start their own server on loopback and set these themselves.
    os.environ["OLLAMA_HOST"] = "127.0.0.1:9"  # the discard port: nothing listens there
    from shared.agent.llm import PROVIDER_KEY_ENV

    for variable in PROVIDER_KEY_ENV.values():
        os.environ.pop(variable, None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised LocalGPT home whose environment points at the real int8 model."""
    home = tmp_path / "home"
    for var in ("LOCALGPT_WORKSPACE", "LOCALGPT_EMBEDDING_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LOCALGPT_HOME", str(home))
    monkeypatch.setenv("LOCALGPT_EMBEDDING_MODEL_PATH", str(MODEL_INT8))
    init_home(load_config())
    return home


@pytest.fixture
def config(home: Path) -> Config:
    return load_config()


@pytest.fixture
def workspace(config: Config) -> Path:
    return config.workspace_dir


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """One loaded model for the whole run (loading is the slow part)."""
    from shared.config import EmbeddingConfig

    return Embedder(EmbeddingConfig(model_path=str(MODEL_INT8)))


@pytest.fixture
def memory(config: Config, embedder: Embedder):
    mem = Memory(config, embedder)
    yield mem
    mem.close()


def run_cli(
    *args: str, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess[str]:
    """Run the real `localgpt` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        cwd=ROOT,
        **kwargs,
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def services(xprocess):
    """Start services by name; every one started is stopped at teardown, even on failure."""
    started: list[str] = []

    def start(name: str, args: list[str], env: dict[str, str], ready: str) -> int:
        started.append(name)
        return processes.start_service(xprocess, name, args, env, ready)

    yield start
    for name in started:
        processes.stop_service(xprocess, name)


@pytest.fixture
def restore_logging(monkeypatch):
    """For tests that configure logging: JSON lines, and the previous set-up back afterwards."""
    import logging

    import structlog

    from shared.logs import configure_logging

    monkeypatch.setenv("LOG_FORMAT", "json")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    configure_logging("test", stream=sys.stderr)
    root.handlers[:], root.level = handlers, level
    structlog.contextvars.clear_contextvars()


# -- a real browser for the page's tests ----------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work on these closed-network machines (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (which cannot download a browser here)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
