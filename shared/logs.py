"""structlog set-up shared by every process: one JSON object a line, tagged with the service name.

The CLI logs to stderr (so stdout stays clean for `--json` output); services log to stdout.
`LOG_FORMAT=json|console` forces a renderer; otherwise JSON unless the stream is a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog


def configure_logging(service: str, stream: TextIO | None = None, level: str | None = None) -> None:
    stream = stream or sys.stdout
    fmt = os.environ.get("LOG_FORMAT")
    as_json = (fmt == "json") if fmt else not stream.isatty()

    def add_service(_: object, __: str, event: dict) -> dict:
        event.setdefault("service", service)
        event.setdefault("pid", os.getpid())
        return event

    def drop_noise(_: object, __: str, event: dict) -> dict:
        for key in ("color_message", "litellm_redacted"):
            event.pop(key, None)
        return event

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        drop_noise,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        add_service,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.dict_tracebacks if as_json else (lambda _, __, ed: ed),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("LOG_LEVEL", "INFO").upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "huey", "huey.consumer"):
        lib_logger = logging.getLogger(name)
        lib_logger.handlers.clear()
        lib_logger.propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
