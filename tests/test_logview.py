"""`localgpt logs`: merged, filtered, readable, and following files as they grow and rotate."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from processes import wait_for
from test_log_files import finish, start_writer

from shared.logview import (
    LogFilter,
    LogReader,
    LogViewError,
    format_record,
    parse_level,
    parse_line,
    parse_since,
)

T0 = datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC)


def line(seconds: float, service: str, event: str, level: str = "info", **extra) -> str:
    ts = (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    data = {"event": event, "level": level, "ts": ts, "service": service, "pid": 100, **extra}
    return json.dumps(data) + "\n"


def append(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(lines))


@pytest.fixture
def logs_dir(home: Path) -> Path:
    """Two services, a rotated chain, and junk a reader must skip."""
    logs = home / "logs"
    append(logs / "worker.jsonl.2", line(1, "worker", "w1"), line(4, "worker", "w4"))
    append(logs / "worker.jsonl.1", line(6, "worker", "w6", task_id="abc123", job_id="j"))
    append(
        logs / "worker.jsonl",
        line(8, "worker", "w8", level="error", task_id="abc123"),
        "not json at all\n",
        '["a list"]\n',
        '{"event": "no ts"}\n',
        line(10, "worker", "w10"),
        '{"event": "half a li',  # a write still in progress
    )
    append(
        logs / "indexer.jsonl",
        line(2, "indexer", "i2"),
        line(7, "indexer", "i7", level="warning", path="notes/a b.md"),
        line(9, "indexer", "i9", level="debug"),
    )
    return logs


def events(records) -> list[str]:
    return [r.data["event"] for r in records]


def test_history_is_merged_in_time_order_across_rotation_and_junk_is_skipped(logs_dir):
    reader = LogReader(logs_dir)
    assert events(reader.history()) == ["w1", "i2", "w4", "w6", "i7", "w8", "i9", "w10"]
    reader.close()


@pytest.mark.parametrize(
    ("log_filter", "expected"),
    [
        (LogFilter(services=["indexer"]), ["i2", "i7", "i9"]),
        (LogFilter(min_level=parse_level("warning")), ["i7", "w8"]),
        (LogFilter(min_level=parse_level("WARN"), services=["worker"]), ["w8"]),
        (LogFilter(task="abc"), ["w6", "w8"]),
        (LogFilter(since=T0 + timedelta(seconds=8)), ["w8", "i9", "w10"]),
    ],
)
def test_filters(logs_dir, log_filter, expected):
    assert events(r for r in LogReader(logs_dir).history() if log_filter.matches(r)) == expected


def test_parse_since():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_since("1h30m", now) == now - timedelta(minutes=90)
    assert parse_since("45s", now) == now - timedelta(seconds=45)
    assert parse_since("2026-11-23T10:00:00+00:00") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    for bad in ("soon", "10x", ""):
        with pytest.raises(LogViewError):
            parse_since(bad, now)


def test_readable_form_escapes_control_characters():
    record = parse_line(line(0, "api", "hello\x1b[31m\nworld", user="a\x07b", n=3, ok=True))
    text = format_record(record, colour=False)
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text
    assert "api[100]" in text and "info" in text
    assert "n=3" in text and "ok=true" in text and 'user="a\\u0007b"' in text
    coloured = format_record(record, colour=True)
    assert coloured.count("\x1b[") > 4  # our colours only


def test_cli_prints_filtered_readable_lines(logs_dir):
    env = {"TZ": "UTC", "NO_COLOR": "1"}
    result = run_cli("logs", "--service", "worker", "--level", "error", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2026-11-23 01:00:08.000 worker[100] error    w8 task_id=abc123"
    ]
    result = run_cli("logs", "--task", "abc123", "--json", env=env)
    assert [json.loads(x)["event"] for x in result.stdout.splitlines()] == ["w6", "w8"]
    result = run_cli("logs", "-n", "2", "--json", env=env)
    assert [json.loads(x)["event"] for x in result.stdout.splitlines()] == ["i9", "w10"]
    result = run_cli("logs", "--level", "info", "-s", "indexer", env=env)
    assert 'path="notes/a b.md"' in result.stdout and "i9" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--level", "loud"], "unknown level"), (["--since", "yesterday"], "--since")],
)
def test_cli_rejects_bad_filters_in_one_line(logs_dir, args, message):
    result = run_cli("logs", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_without_logs_says_so(home):
    result = run_cli("logs")
    assert result.returncode == 0
    assert "no log files" in result.stderr and result.stdout == ""


class Follower:
    """`localgpt logs -f ...` as a real subprocess, its stdout read by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "logs", "-f", "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for text in self.proc.stdout:
            self.lines.put(text)

    def read(self, count: int, timeout: float = 30) -> list[str]:
        return [json.loads(self.lines.get(timeout=timeout))["event"] for _ in range(count)]

    def nothing_more(self, wait: float = 1.0) -> bool:
        try:
            extra = self.lines.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected line: {extra}")

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=10)
        return code, self.proc.stderr.read()


def test_follow_sees_appends_new_files_and_rotation_then_exits_cleanly(logs_dir):
    worker = logs_dir / "worker.jsonl"
    follower = Follower("--service", "worker", "-n", "2")
    try:
        assert follower.read(2) == ["w8", "w10"]  # the last two, then what comes
        append(worker, 'ne"}\n', line(11, "worker", "w11"))  # the partial line ends, invalid
        append(logs_dir / "indexer.jsonl", line(12, "indexer", "i12"))  # filtered out
        assert follower.read(1) == ["w11"]
        append(worker, line(13, "worker", "w13-partial")[:20])
        follower.nothing_more(0.6)
        append(worker, line(13, "worker", "w13-partial")[20:])
        assert follower.read(1) == ["w13-partial"]

        # Rotation as RotatingFileHandler does it, a last line landing just before it.
        append(worker, line(14, "worker", "w14"))
        for n in (2, 1):
            (logs_dir / f"worker.jsonl.{n}").rename(logs_dir / f"worker.jsonl.{n + 1}")
        worker.rename(logs_dir / "worker.jsonl.1")
        append(worker, line(15, "worker", "w15"))
        append(logs_dir / "worker.2.jsonl", line(16, "worker", "w16"))  # a second worker starts
        assert sorted(follower.read(3)) == ["w14", "w15", "w16"]
        follower.nothing_more()
    finally:
        code, stderr = follower.interrupt()
    assert code == 0 and "Traceback" not in stderr, stderr


def test_follow_keeps_every_line_through_real_rotations(home):
    """A real process rotating 3000-byte files while `logs -f` follows: no line lost or doubled."""
    follower = Follower("--service", "worker", "-n", "1000")
    try:
        append(home / "logs" / "worker.9.jsonl", line(0, "worker", "marker", n=-1))
        assert follower.read(1) == ["marker"]  # following now: the writer's file will be new
        writer, _ = start_writer(home / "logs", 150, max_bytes=3000, delay=0.01)
        finish(writer)
        seen = []
        with contextlib.suppress(queue.Empty):
            while len(seen) < 150:
                seen.append(json.loads(follower.lines.get(timeout=10))["n"])
        assert seen == list(range(150))
        assert len(list((home / "logs").glob("worker.jsonl.*"))) >= 3
        follower.nothing_more()
    finally:
        code, stderr = follower.interrupt()
    assert code == 0 and "Traceback" not in stderr, stderr


def test_follow_waits_for_a_folder_that_does_not_exist_yet(tmp_path, monkeypatch):
    home = tmp_path / "fresh"
    monkeypatch.setenv("LOCALGPT_HOME", str(home))
    follower = Follower()
    try:
        wait_for(lambda: follower.proc.poll() is None, 5, "the follower to start")
        append(home / "logs" / "api.jsonl", line(1, "api", "first"))
        assert follower.read(1) == ["first"]
    finally:
        code, stderr = follower.interrupt()
    assert code == 0, stderr


def rotate(base: Path) -> None:
    """What RotatingFileHandler does: shift the backups up by one, the file becomes `.1`."""
    backups = sorted(base.parent.glob(base.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    for path in backups:
        path.rename(base.with_name(f"{base.name}.{int(path.suffix[1:]) + 1}"))
    base.rename(base.with_name(base.name + ".1"))


def test_poll_survives_two_rotations_and_reads_a_new_chain_whole(tmp_path):
    worker, api = tmp_path / "worker.jsonl", tmp_path / "api.jsonl"
    append(worker, line(1, "worker", "a"))
    reader = LogReader(tmp_path)
    assert events(reader.history()) == ["a"]
    append(worker, line(2, "worker", "b"))
    rotate(worker)
    append(worker, line(3, "worker", "c"))
    rotate(worker)  # twice between two polls: "c" sits only in a backup now
    append(worker, line(4, "worker", "d"))
    append(api, line(5, "api", "e"))
    rotate(api)  # a chain that appeared and rotated before the reader saw it
    append(api, line(6, "api", "f"))
    assert events(reader.poll()) == ["b", "c", "d", "e", "f"]
    assert reader.poll() == []
    reader.close()


def test_a_file_deleted_by_hand_does_not_replay_old_backups(tmp_path):
    worker = tmp_path / "worker.jsonl"
    append(tmp_path / "worker.jsonl.1", line(1, "worker", "old"))
    append(worker, line(2, "worker", "current"))
    reader = LogReader(tmp_path)
    assert events(reader.history()) == ["old", "current"]
    worker.unlink()
    append(worker, line(3, "worker", "fresh"))
    assert events(reader.poll()) == ["fresh"]
    reader.close()
