"""Logging shared by every process: one JSON object a line, tagged with the service name.

The CLI logs to stderr (so stdout stays clean for `--json` output) and writes no files; services
log to stdout (for honcho) and, given `log_dir`, also to their own rotated file (see
`shared.logfiles`). `LOG_FORMAT=json|console` forces the stream's renderer (JSON unless the
stream is a terminal); files are always JSON. Every event is masked (`shared.logline`) on every
sink, tracebacks included.

Two roads lead to the same sinks:
- our events (`get_logger(...).info("event", field=...)`) go through structlog alone: a few
  processors, then `Output.write`. Going through stdlib logging as well (a record, a formatter,
  a handler per sink) made a line cost 3-5x more, and every process logs, the API once a request;
- the libraries' stdlib records (uvicorn, huey, litellm, ...) reach `Output.write` through one
  root handler, as the same kind of event: message, level, their record's time, `extra` fields
  and the bound context (so huey's lines carry the `task_id` bound around a task).

structlog caches each logger on first use, so the processors never change: they read the
current `Output` (and level), which `configure_logging` replaces.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from shared.config import home_dir
from shared.logfiles import LogFileBusy, RotatingFile, log_file_for, release_log_file
from shared.logline import redacted_json
from shared.redact import TokenFile, redact_value

__all__ = ["LogFileBusy", "configure_logging", "get_logger"]

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5
LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40,
          "critical": 50, "fatal": 50}  # fmt: skip
_LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")
# Locals in tracebacks may hold note text or credentials: keep frames, never locals.
_traceback_data = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False)
)
# What every LogRecord has; anything else on a record came from `extra=`.
_RECORD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_NOISE = {"color_message", "litellm_redacted"}


class Output:
    """Where events go: the stream (JSON or, on a terminal, console lines) and the log file."""

    def __init__(
        self, service: str, stream: TextIO, as_json: bool, file: RotatingFile | None,
        token: TokenFile, level: int,
    ) -> None:  # fmt: skip
        self.service, self.stream, self.as_json, self.file = service, stream, as_json, file
        self.token, self.level, self.pid = token, level, os.getpid()
        self._console = None if as_json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
        self._stream_encoding = _encoding(stream)
        self._lock = threading.Lock()
        self._failed: set[str] = set()

    def write(self, event: dict[str, Any]) -> None:
        """Never raises: logging must not fail the code that logged (see `_report`)."""
        try:
            stream_line, file_line = self._render(event)
        except Exception as exc:  # e.g. a value whose __str__ raises
            self._report("event", exc)
            return
        with self._lock:
            self._to("stream", self._write_stream, stream_line)
            if self.file is not None and file_line is not None:
                self._to("file", self.file.write, file_line)

    def _render(self, event: dict[str, Any]) -> tuple[str, str | None]:
        event.setdefault("service", self.service)
        event.setdefault("pid", self.pid)
        token = self.token.value()
        console = None if self._console is None else self._console_line(dict(event), token)
        line = None
        if self.as_json or self.file is not None:
            line = redacted_json(_traceback_data(None, "", event), token)
        if console is not None:
            return _encodable(console, self._stream_encoding), line
        assert line is not None
        return (line if self._stream_encoding == "utf-8" else ascii_json(line)), line

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def _console_line(self, event: dict[str, Any], token: str | None) -> str:
        event = structlog.processors.format_exc_info(None, "", event)
        return self._console(None, "", redact_value(event, token))

    def _write_stream(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def _to(self, sink: str, write: Any, line: str) -> None:
        """A failing sink (a closed pipe, a full disk) never fails the code that logged; the
        other sink still gets the line."""
        try:
            write(line)
        except (OSError, ValueError) as exc:
            self._report(f"{sink} log", exc)

    def _report(self, what: str, exc: Exception) -> None:
        """Once per kind of failure, on stderr, if stderr itself still works."""
        if what in self._failed:
            return
        self._failed.add(what)
        with contextlib.suppress(Exception):  # stderr may be the very pipe that broke
            print(f"localgpt: cannot write a {what}: {exc!r}", file=sys.__stderr__, flush=True)


class _State:
    output: Output | None = None


def _below_level(_: object, method: str, event: dict) -> dict:
    output = _State.output
    if output is None or LEVELS.get(method, 20) < output.level:
        raise structlog.DropEvent
    return event


def _timestamp(_: object, __: str, event: dict) -> dict:
    event["ts"] = utc_iso(time.time())
    return event


def _hand_over(_: object, __: str, event: dict) -> tuple[tuple[dict], dict]:
    return (event,), {}


class _Writer:
    """What structlog's bound loggers call (by level name) with the finished event."""

    def write(self, event: dict[str, Any]) -> None:
        output = _State.output
        if output is not None:
            output.write(event)

    debug = info = warning = warn = error = critical = exception = fatal = msg = write


class _StdlibRecords(logging.Handler):
    """The libraries' stdlib records, as events on the same output."""

    def emit(self, record: logging.LogRecord) -> None:
        output = _State.output
        if output is None:
            return
        try:
            output.write(record_event(record))
        except Exception:
            self.handleError(record)


def record_event(record: logging.LogRecord) -> dict[str, Any]:
    event: dict[str, Any] = {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_FIELDS and key not in _NOISE
    }
    for key, value in structlog.contextvars.get_contextvars().items():
        event.setdefault(key, value)
    event.update(event=record.getMessage(), level=record.levelname.lower())
    event["ts"] = utc_iso(record.created)
    if record.exc_info:
        event["exc_info"] = record.exc_info
    return event


def ascii_json(line: str) -> str:
    """The same JSON line with every non-ASCII character escaped, for a stream that is not
    UTF-8 (rare, so parsing the line again costs nothing that matters)."""
    return json.dumps(json.loads(line), ensure_ascii=True, separators=(",", ":"))


def _encoding(stream: TextIO) -> str:
    """The stream's encoding, normalised (`utf-8` for streams that take any text)."""
    try:
        return codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    except LookupError:
        return "ascii"


def _encodable(text: str, encoding: str) -> str:
    if encoding == "utf-8":
        return text
    return text.encode(encoding, "backslashreplace").decode(encoding)


def utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def configure_logging(
    service: str,
    stream: TextIO | None = None,
    level: str | None = None,
    *,
    log_dir: Path | None = None,
    token_file: Path | None = None,
    max_bytes: int = LOG_MAX_BYTES,
    backups: int = LOG_BACKUPS,
) -> Path | None:
    """Send this process's events and stdlib records to `stream` (and a rotated file when
    `log_dir` is set).

    `token_file` holds the API token to mask (default `$LOCALGPT_HOME/token`). Returns the log
    file this process writes, or None without `log_dir`.
    """
    stream = stream or sys.stdout
    fmt = os.environ.get("LOG_FORMAT")
    as_json = (fmt == "json") if fmt else not stream.isatty()
    level_name = (level or os.environ.get("LOG_LEVEL", "INFO")).lower()
    if level_name not in LEVELS:
        raise ValueError(f"unknown log level {level_name!r}: use {', '.join(_LEVEL_NAMES)}")
    path = file = None
    if log_dir is not None:
        path = log_file_for(service, log_dir)
        file = RotatingFile(path, max_bytes, backups)
    else:
        release_log_file()
    token = TokenFile(token_file or home_dir() / "token")
    previous, _State.output = (
        _State.output,
        Output(service, stream, as_json, file, token, LEVELS[level_name]),
    )
    if previous is not None:
        previous.close()
    _configure_structlog()
    _route_stdlib_records(LEVELS[level_name])
    return path


def _configure_structlog() -> None:
    structlog.configure(
        processors=[
            _below_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _timestamp,
            _hand_over,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),  # see _below_level
        logger_factory=lambda *_: _Writer(),
        cache_logger_on_first_use=True,
    )


def _route_stdlib_records(level: int) -> None:
    _skip_unused_record_fields()
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = [_StdlibRecords()]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "huey", "huey.consumer"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True


def _skip_unused_record_fields() -> None:
    """Our lines carry `service` and `pid`, never the caller, thread or process name: skip
    collecting those for every record (the logging HOWTO's "Optimization" settings; the caller
    lookup walks the stack on every call)."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def get_logger(name: str) -> Any:
    """A structlog logger: `.info("event_name", field=value, ...)`, `.warning`, `.exception`."""
    return structlog.get_logger(name)
