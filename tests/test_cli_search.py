"""Issue 20: `localgpt memory search` gets its query vector from the running worker, as the API
does, instead of loading the model itself; with no model to be had (no worker, no model files
here, no network) it falls back to keywords at once with one clear line, instead of hanging on
a download. A real worker process (xprocess) and the real model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import MODEL_INT8, ROOT, run_cli, write
from processes import log_text, service_env, wait_for
from test_services import make_home

from shared.memory import Memory

pytestmark = pytest.mark.slow

# Runs the command in a fresh interpreter and reports which modules it needed (last line).
SEARCH = """
import json, sys
from shared.cli.main import app
try:
    app(["memory", "search", "where is the fence", "--json"], prog_name="localgpt")
except SystemExit:
    pass
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""


def search_in_subprocess(env: dict[str, str]) -> tuple[dict, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", SEARCH], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *output, modules = done.stdout.strip().splitlines()
    return json.loads("\n".join(output)), set(json.loads(modules)), done.stderr


def test_search_takes_query_vectors_from_the_running_worker(tmp_path, services, xprocess, embedder):
    config = make_home(tmp_path)
    write(config.workspace_dir / "memory" / "2026-11-20.md", "# Garden\n\n- Built the fence.\n")
    Memory(config, embedder).sync()  # an index with vectors, as the system keeps it
    env = service_env(config.home, MODEL_INT8)
    services("lg-cli-search-worker", ["run", "worker"], env, "worker_ready")
    wait_for(
        lambda: "query_service_ready" in log_text(xprocess, "lg-cli-search-worker"),
        60,
        "the worker to serve query vectors",
    )
    response, modules, stderr = search_in_subprocess(env)
    assert response["mode"] == "hybrid", (response, stderr)
    assert response["warnings"] == []
    assert response["results"][0]["path"] == "memory/2026-11-20.md"
    assert response["results"][0]["vector_score"] > 0.3
    # The vector came over the worker's socket: no model was loaded in the command.
    assert "onnxruntime" not in modules and "fastembed" not in modules


def test_without_a_worker_the_model_files_here_are_used(tmp_path, embedder):
    config = make_home(tmp_path)
    write(config.workspace_dir / "memory" / "2026-11-20.md", "# Garden\n\n- Built the fence.\n")
    Memory(config, embedder).sync()
    response, modules, _ = search_in_subprocess(service_env(config.home, MODEL_INT8))
    assert response["mode"] == "hybrid" and response["warnings"] == []
    assert "onnxruntime" in modules  # the lean encoder ran here
    assert "fastembed" not in modules


def test_with_no_model_anywhere_search_uses_keywords_at_once_and_says_why(tmp_path):
    """No worker, no model path, nothing in the models folder, and no network here: the old
    code spent ~40 s in fastembed's download retries. The timeout catches a hang; the time
    itself is measured by bench/cli.py."""
    config = make_home(tmp_path)
    write(config.workspace_dir / "memory" / "k.md", "# K\n\nthe kingfisher dove\n")
    missing = config.home / "missing-model"
    indexed = run_cli("memory", "reindex", env=service_env(config.home, missing))
    assert indexed.returncode == 0, indexed.stderr
    env = service_env(config.home, MODEL_INT8)
    env.pop("LOCALGPT_EMBEDDING_MODEL_PATH")
    (config.home / "config.toml").write_text("")  # no model_path: fastembed's catalogue model
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "memory", "search", "kingfisher"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=15,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "memory/k.md" in done.stdout and "keyword search" in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("warning: keyword search only:")
    assert "not on this machine" in lines[0]
    assert not list(config.models_dir.glob("**/*.onnx"))  # nothing was downloaded
