"""Property-based API testing: schemathesis generates requests from our OpenAPI schema and
the API must never answer with a 5xx (bounded in examples and time for CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODEL_INT8
from processes import service_env, start_service, stop_service
from test_api import free_port
from test_services import make_home

pytestmark = pytest.mark.slow


def test_no_generated_request_gets_a_server_error(tmp_path, xprocess):
    config = make_home(tmp_path)
    port, llm_port = free_port(), free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f"[server]\nport = {port}\n[local_llm]\nport = {llm_port}\n"
            "[llm]\nmax_tokens = 8\n[agent]\nauto_recall = 0\n"
        )
    env = service_env(config.home, MODEL_INT8)
    start_service(xprocess, "lg-st-llm", ["run", "llm"], env, "Uvicorn running on")
    start_service(xprocess, "lg-st-api", ["run", "api"], env, "Uvicorn running on")
    token = (config.home / "token").read_text().strip()
    try:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "8",
                "--request-timeout",
                "300",  # one small model answers chat requests in turn
                "--workers",
                "1",
                "--generation-deterministic",
                "-H",
                f"Authorization: Bearer {token}",
            ],
            capture_output=True,
            text=True,
            timeout=1500,
            env={**os.environ, "NO_COLOR": "1"},
        )
    finally:
        stop_service(xprocess, "lg-st-api")
        stop_service(xprocess, "lg-st-llm")
    report = done.stdout + done.stderr
    artifact = Path(__file__).parent / "artifacts" / "schemathesis.txt"
    artifact.parent.mkdir(exist_ok=True)
    artifact.write_text(report)
    assert done.returncode == 0, report[-6000:]
    assert "Server error" not in report
