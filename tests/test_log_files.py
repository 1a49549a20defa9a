"""Log files: one rotated chain per process (two workers never share a file), all fields kept,
secrets masked in the file and on the stream, and the CLI writing no file at all."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import structlog
from conftest import ROOT, run_cli

from shared.logfiles import RotatingFile
from shared.logs import configure_logging, get_logger
from shared.logview import LogReader

# A real process that claims its log file, writes `count` lines and keeps the file until stdin
# closes (so tests can run two "workers" at once).
WRITER = """
import sys, time
from pathlib import Path
from shared.logs import configure_logging, get_logger
service, log_dir, max_bytes, count, delay = sys.argv[1:6]
path = configure_logging(service, stream=sys.stderr, log_dir=Path(log_dir),
                         max_bytes=int(max_bytes), backups=50)
print(path, flush=True)
log = get_logger("writer")
for n in range(int(count)):
    log.info("line", n=n, payload="x" * 40)
    time.sleep(float(delay))
print("done", flush=True)
sys.stdin.readline()
"""


def start_writer(
    log_dir: Path, count: int, service: str = "worker", max_bytes: int = 10_000_000, delay=0.0
) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            service,
            str(log_dir),
            str(max_bytes),
            str(count),
            str(delay),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    return proc, Path(proc.stdout.readline().strip())


def finish(proc: subprocess.Popen) -> None:
    assert proc.stdout.readline().strip() == "done"
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def records_by_pid(log_dir: Path) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for record in LogReader(log_dir).history():
        out.setdefault(record.data["pid"], []).append(record.data["n"])
    return out


def test_two_processes_of_one_service_write_separate_rotated_chains(tmp_path):
    log_dir = tmp_path / "logs"
    first, first_path = start_writer(log_dir, 300, max_bytes=4000)
    second, second_path = start_writer(log_dir, 300, max_bytes=4000)
    assert (first_path.name, second_path.name) == ("worker.jsonl", "worker.2.jsonl")
    finish(first)
    finish(second)

    for path in (first_path, second_path):
        chain = sorted(log_dir.glob(path.name + "*"))
        assert len(chain) > 3, "4000-byte files must have rotated"
        assert all(p.stat().st_size <= 4000 for p in chain)
        assert {json.loads(line)["pid"] for p in chain for line in p.read_text().splitlines()} == {
            (first if path == first_path else second).pid
        }
    # Every line of both processes survives rotation, whole and in order.
    assert records_by_pid(log_dir) == {first.pid: list(range(300)), second.pid: list(range(300))}


def test_a_restarted_process_reuses_the_freed_file(tmp_path):
    log_dir = tmp_path / "logs"
    first, path = start_writer(log_dir, 1)
    finish(first)
    again, again_path = start_writer(log_dir, 1)
    finish(again)
    assert again_path == path == log_dir / "worker.jsonl"
    assert [json.loads(line)["pid"] for line in path.read_text().splitlines()] == [
        first.pid,
        again.pid,
    ]


def test_a_killed_process_frees_its_file(tmp_path):
    log_dir = tmp_path / "logs"
    holder, path = start_writer(log_dir, 1)
    assert holder.stdout.readline().strip() == "done"
    holder.kill()  # SIGKILL: no cleanup code runs, the kernel drops the lock
    holder.wait(timeout=10)
    successor, successor_path = start_writer(log_dir, 1)
    finish(successor)
    assert successor_path == path


def test_fields_pass_through_and_secrets_never_reach_either_sink(
    tmp_path, restore_logging, monkeypatch
):
    monkeypatch.setenv("LOG_FORMAT", "json")
    token_file = tmp_path / "token"
    stream = io.StringIO()
    path = configure_logging(
        "worker", stream=stream, log_dir=tmp_path / "logs", token_file=token_file
    )
    token = "LocalGPT-token-" + "t0k3n" * 6
    token_file.write_text(token + "\n")  # created after logging was configured, as the API does
    log = get_logger("test")
    with structlog.contextvars.bound_contextvars(task_id="task-1", session_id="sess-1"):
        log.info(
            "task_step",
            job_id="job-1",
            path="notes/a.md",
            api_key="plain-secret-value",
            note=f"reply used sk-ant-api03-{'k' * 40} and {token}",
        )
    try:
        raise RuntimeError(f"upstream said Bearer {'b' * 30}")
    except RuntimeError:
        log.exception("task_failed")
    logging.getLogger("uvicorn.access").info("GET /api/x?token=%s HTTP/1.1", token)

    file_lines = path.read_text().splitlines()
    for text in (stream.getvalue(), path.read_text()):
        for secret in (token, "plain-secret-value", "k" * 40, "b" * 30):
            assert secret not in text
    step, failed, access = (json.loads(line) for line in file_lines)
    assert {"ts", "level", "event", "service", "pid"} <= step.keys() & failed.keys() & access.keys()
    assert (step["service"], step["level"], step["task_id"], step["session_id"]) == (
        "worker",
        "info",
        "task-1",
        "sess-1",
    )
    assert (step["job_id"], step["path"], step["api_key"]) == ("job-1", "notes/a.md", "[redacted]")
    assert failed["exception"][0]["exc_type"] == "RuntimeError"
    assert "[redacted]" in failed["exception"][0]["exc_value"]
    assert access["event"] == "GET /api/x?token=[redacted] HTTP/1.1"
    streamed = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [x["ts"] for x in streamed] == [x["ts"] for x in (step, failed, access)]  # one clock


def test_the_cli_writes_no_log_file(home):
    result = run_cli("--verbose", "config", "show")
    assert result.returncode == 0, result.stderr
    assert not list((home / "logs").glob("*.jsonl*"))


def test_an_unknown_log_level_is_one_clear_error(home):
    result = run_cli("run", "heartbeat", env={"LOG_LEVEL": "loud"})
    assert result.returncode == 1
    assert "unknown log level 'loud'" in result.stderr and "Traceback" not in result.stderr


class BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_logging_never_fails_the_code_that_logged(tmp_path, restore_logging, monkeypatch):
    """A value that cannot be rendered, a stream whose reader went away, and even a broken
    stderr for the report: each call returns, and the file still gets every other line."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setattr(sys, "__stderr__", BrokenPipe())  # honcho gone: stderr is the same pipe

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text for you")

    path = configure_logging(
        "worker", stream=BrokenPipe(), log_dir=tmp_path / "logs", token_file=tmp_path / "t"
    )
    log = get_logger("test")
    log.info("before")
    log.info("odd_value", value=Unprintable())
    log.info("after")
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == [
        "before",
        "after",
    ]


def test_a_stream_that_is_not_utf8_gets_ascii_json(tmp_path, restore_logging, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", write_through=True)
    path = configure_logging(
        "worker", stream=stream, log_dir=tmp_path / "logs", token_file=tmp_path / "t"
    )
    get_logger("test").info("note_saved", title="Caf\u00e9 \U0001f600")
    streamed = raw.getvalue().decode("ascii")
    assert json.loads(streamed)["title"] == "Caf\u00e9 \U0001f600"
    assert json.loads(path.read_text(encoding="utf-8"))["title"] == "Caf\u00e9 \U0001f600"


def test_a_closed_log_file_is_not_reopened(tmp_path):
    path = tmp_path / "svc.jsonl"
    log_file = RotatingFile(path, max_bytes=1000, backups=2)
    log_file.write("one")
    log_file.close()
    log_file.write("late")  # a thread still holding the file while logging is reconfigured
    assert path.read_text() == "one\n"
