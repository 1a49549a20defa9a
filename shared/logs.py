"""structlog set-up shared by every process: one JSON object a line, tagged with the service name.

The CLI logs to stderr (so stdout stays clean for `--json` output) and writes no files; services
log to stdout (for honcho) and, given `log_dir`, also to `<log_dir>/<service>.jsonl`, rotated by
size. `LOG_FORMAT=json|console` forces the stream's renderer (JSON unless the stream is a
terminal); files are always JSON. Every event passes the redaction processor on every sink.

Two processes of one service (two workers) must never share a file: RotatingFileHandler rotates
by renaming, so a second writer would keep appending to the renamed file, or rotate it again.
Each process therefore claims a numbered slot with a non-blocking `flock` held for its lifetime:
slot 1 writes `worker.jsonl`, slot 2 `worker.2.jsonl`, and so on. The kernel releases the lock
when the process dies (even by SIGKILL), so restarts reuse the same files and the disk used stays
bounded by (concurrent processes) x (max_bytes x (backups + 1)), unlike a file per pid.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import stat
import sys
import threading
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from shared.config import home_dir
from shared.redact import redaction_processor

LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5
MAX_SLOTS = 64
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# Locals in tracebacks may hold note text or credentials: keep frames, never locals.
_dict_tracebacks = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False)
)


class LogFileBusy(RuntimeError):
    """Every slot of a service's log files is held by another live process."""


class PrivateRotatingFileHandler(RotatingFileHandler):
    """Log files readable by the owner only: they may quote notes and task text."""

    def _open(self):  # noqa: ANN202 - the stdlib's signature
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._regular = stat.S_ISREG(os.fstat(fd).st_mode)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 - stdlib name
        """The stdlib's check, with its two stat calls done once per opened file, not per
        line (and, like it, never rolling over anything but a regular file)."""
        if self.stream is None:
            self.stream = self._open()
        if self.maxBytes <= 0 or not self._regular:
            return False
        return self.stream.tell() + len(self.format(record)) + 1 >= self.maxBytes


class FormatOnce(logging.Formatter):
    """Renders each record once for every handler sharing it: the stream, the file, and the
    file's size check each render it otherwise (three renders of every line)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner
        self._last = threading.local()

    def format(self, record: logging.LogRecord) -> str:
        last = self._last
        if getattr(last, "record", None) is not record:
            last.text, last.record = self.inner.format(record), record
        return last.text


class _Sink:
    """This process's claimed log file (one per process, kept across reconfiguration)."""

    key: tuple[str, Path] | None = None
    lock_fd: int | None = None
    path: Path | None = None

    @classmethod
    def claim(cls, log_dir: Path, service: str) -> Path:
        key = (service, log_dir.resolve())
        if cls.key == key and cls.path is not None:
            return cls.path
        cls.release()
        log_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(1, MAX_SLOTS + 1):
            fd = os.open(log_dir / f".{service}.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            cls.key, cls.lock_fd = key, fd
            cls.path = log_dir / (f"{service}.jsonl" if slot == 1 else f"{service}.{slot}.jsonl")
            return cls.path
        raise LogFileBusy(f"all {MAX_SLOTS} log files of {service!r} in {log_dir} are in use")

    @classmethod
    def release(cls) -> None:
        if cls.lock_fd is not None:
            os.close(cls.lock_fd)
        cls.key = cls.lock_fd = cls.path = None


def log_file_for(service: str, log_dir: Path) -> Path:
    """Claim (or return this process's already claimed) log file of `service` in `log_dir`."""
    if not _SERVICE_NAME.match(service):
        raise ValueError(f"service name {service!r} cannot name a log file")
    return _Sink.claim(log_dir, service)


def running_writers(service: str, log_dir: Path) -> int:
    """How many live processes hold a log file of `service` (i.e. run it against this home)."""
    count = 0
    for lock in log_dir.glob(f".{service}.*.lock"):
        try:
            fd = os.open(lock, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            count += 1
        finally:
            os.close(fd)
    return count


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
    """Route structlog and stdlib logging to `stream` (and a rotated file when `log_dir` is set).

    `token_file` holds the API token to mask (default `$LOCALGPT_HOME/token`). Returns the log
    file this process writes, or None without `log_dir`.
    """
    stream = stream or sys.stdout
    fmt = os.environ.get("LOG_FORMAT")
    as_json = (fmt == "json") if fmt else not stream.isatty()
    redact = redaction_processor(token_file or home_dir() / "token")

    def add_service(_: object, __: str, event: dict) -> dict:
        event.setdefault("service", service)
        event.setdefault("pid", os.getpid())
        return event

    def drop_noise(_: object, __: str, event: dict) -> dict:
        for key in ("color_message", "litellm_redacted"):
            event.pop(key, None)
        return event

    common = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        drop_noise,
    ]
    shared = [*common, structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"), add_service]
    foreign = [*common, record_time, add_service]  # stdlib records (uvicorn, huey, ...)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )

    def formatter(json_lines: bool, colors: bool = False) -> logging.Formatter:
        renderer = (
            structlog.processors.JSONRenderer()
            if json_lines
            else structlog.dev.ConsoleRenderer(colors=colors)
        )
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=foreign,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Tracebacks become data before redaction, so they are masked too.
                _dict_tracebacks if json_lines else structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )

    json_lines = FormatOnce(formatter(json_lines=True))
    stream_handler = logging.StreamHandler(stream)
    stream_handler.setFormatter(json_lines if as_json else formatter(False, colors=stream.isatty()))
    handlers: list[logging.Handler] = [stream_handler]
    path = None
    if log_dir is not None:
        path = log_file_for(service, log_dir)
        file_handler = PrivateRotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        file_handler.setFormatter(json_lines)
        handlers.append(file_handler)
    else:
        _Sink.release()
    _skip_unused_record_fields()
    root = logging.getLogger()
    for old in root.handlers:
        if old not in handlers:
            old.close()
    root.handlers[:] = handlers
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO").upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "huey", "huey.consumer"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True
    return path


def _skip_unused_record_fields() -> None:
    """Our lines carry `service` and `pid`, never the caller, thread or process name: skip
    collecting those for every record (the logging HOWTO's "Optimization" settings; the caller
    lookup walks the stack on every call)."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def record_time(_: object, __: str, event: dict) -> dict:
    """A stdlib record's own creation time, so every sink shows the same `ts` for it (the
    pre-chain runs once per handler, and TimeStamper would read the clock each time)."""
    record = event.get("_record")
    moment = datetime.fromtimestamp(record.created, UTC) if record else datetime.now(UTC)
    event["ts"] = moment.isoformat().replace("+00:00", "Z")
    return event


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
