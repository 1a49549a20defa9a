"""A real service's log lines (stdout for honcho, and its log file) never carry a secret."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import MODEL_INT8
from processes import log_text, service_env, start_service, stop_service, wait_for
from test_daemon import free_port

pytestmark = pytest.mark.slow

FAKE_KEY = "sk-ant-api03-" + "FaKe0KeY1" * 5


def test_the_api_masks_keys_and_its_own_token_in_every_log_line(home, xprocess):
    port = free_port()
    env = service_env(home, MODEL_INT8)
    start_service(
        xprocess,
        "lg-log-api",
        ["run", "api", "--port", str(port)],
        env,
        "Uvicorn running on",
    )
    try:
        token = (home / "token").read_text().strip()  # created by the API after logging began
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert client.get("/health", params={"api_key": FAKE_KEY}).status_code == 200
            assert client.get("/health", params={"echo": token}).status_code == 200
            searched = client.get(
                "/api/memory/search",
                params={"q": "ferry", "note": FAKE_KEY},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert searched.status_code < 500

        log_file = home / "logs" / "api.jsonl"
        wait_for(lambda: log_file.read_text().count('"http_request"') >= 3, 10, "three requests")
        stop_service(xprocess, "lg-log-api")
        for name, text in (
            ("stdout", log_text(xprocess, "lg-log-api")),
            ("file", log_file.read_text()),
        ):
            assert FAKE_KEY not in text and token not in text, f"a secret reached {name}"
        lines = [json.loads(line) for line in log_file.read_text().splitlines()]
        access = [x for x in lines if x["event"] == "http_request" and x["service"] == "api"]
        assert [(x["method"], x["path"], x["status"]) for x in access] == [
            ("GET", "/health", 200),
            ("GET", "/health", 200),
            ("GET", "/api/memory/search", searched.status_code),
        ]
        assert all("[redacted]" in x["query"] and x["ms"] >= 0 for x in access)
        assert any(x["event"] == "api_ready" for x in lines)
        assert all({"ts", "level", "event", "service", "pid"} <= x.keys() for x in lines)
    finally:
        stop_service(xprocess, "lg-log-api")
