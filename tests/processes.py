"""Starting real LocalGPT processes from tests with pytest-xprocess (see field notes §8)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from xprocess import ProcessStarter

ROOT = Path(__file__).resolve().parents[1]


def service_env(home: Path, model_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LOCALGPT_HOME": str(home),
        "LOCALGPT_EMBEDDING_MODEL_PATH": str(model_path),
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": "json",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("LOCALGPT_WORKSPACE", None)
    env.update(extra)
    return env


def start_service(
    xprocess, name: str, args: list[str], env: dict[str, str], ready_pattern: str
) -> int:
    """Start `localgpt <args>` and wait for its readiness log line; returns its pid."""

    command = [sys.executable, "-m", "shared.cli", *args]

    class Starter(ProcessStarter):
        pattern = ready_pattern
        timeout = 120
        max_read_lines = 5000
        terminate_on_interrupt = True
        popen_kwargs = {"cwd": str(ROOT)}
        args = command

    Starter.env = env
    pid, _ = xprocess.ensure(name, Starter, restart=True)
    return pid


def stop_service(xprocess, name: str) -> None:
    info = xprocess.getinfo(name)
    if info.isrunning():
        info.terminate(timeout=10)


def kill9(xprocess, name: str) -> None:
    info = xprocess.getinfo(name)
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while info.isrunning() and time.monotonic() < deadline:
        time.sleep(0.05)


def log_text(xprocess, name: str) -> str:
    """This run's output of a service (xprocess appends every run to one log file)."""
    text = Path(xprocess.getinfo(name).logpath).read_text(errors="replace")
    return text.rsplit("@@__xproc_block_delimiter__@@", 1)[-1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll until `condition()` is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def api_client(home: Path, port: int, timeout: float = 60) -> httpx.Client:
    """A client of the API on `port`, with the bearer token the API wrote into `home`."""
    token_file = home / "token"
    token = wait_for(
        lambda: token_file.is_file() and token_file.read_text().strip(), 60, "the API token"
    )
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        timeout=timeout,
        headers={"Authorization": f"Bearer {token}"},
    )
