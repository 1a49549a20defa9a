"""Alerts: suppress repeats within 24 h, and append the rest to today's daily log.

The daily log `memory/YYYY-MM-DD.md` belongs to the user: it is only ever appended to (one
O_APPEND write, then fsync), never read-modified-rewritten, so nothing they wrote can be lost.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shared.durable import write_all
from shared.logs import get_logger
from shared.workspace import resolve_in_workspace

if TYPE_CHECKING:
    from shared.heartbeat.state import StateTxn

DEDUP_WINDOW = timedelta(hours=24)
PREVIEW_CHARS = 200

log = get_logger(__name__)


@dataclass(frozen=True)
class AlertResult:
    kind: Literal["appended", "duplicate"]
    digest: str
    path: Path | None  # the daily log written, None for a duplicate


def normalise_alert(text: str) -> str:
    """Case, Unicode form and whitespace differences do not make an alert new."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def alert_digest(text: str) -> str:
    return hashlib.sha256(normalise_alert(text).encode("utf-8")).hexdigest()


def daily_log_path(workspace: Path, now: datetime, zone: tzinfo) -> Path:
    """`memory/YYYY-MM-DD.md` for the user's local date (OpenClaw's canonical name)."""
    day = now.astimezone(zone).date().isoformat()
    return resolve_in_workspace(workspace, f"memory/{day}.md")


def append_daily_log(workspace: Path, now: datetime, zone: tzinfo, heading: str, body: str) -> Path:
    """Append `## heading` and `body` to today's log, creating the file and folder if needed."""
    path = daily_log_path(workspace, now, zone)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        block = _separator(path, fd, now.astimezone(zone)) + f"## {heading}\n\n{body.strip()}\n"
        write_all(fd, block.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _separator(path: Path, fd: int, local: datetime) -> str:
    """A title for a new file; otherwise just enough newlines to start a fresh paragraph."""
    size = os.fstat(fd).st_size
    if size == 0:
        return f"# {local.date().isoformat()}\n\n"
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 2))
        tail = handle.read()
    if tail.endswith(b"\n\n"):
        return ""
    return "\n" if tail.endswith(b"\n") else "\n\n"


def record_alert(
    txn: StateTxn, workspace: Path, text: str, now: datetime, zone: tzinfo
) -> AlertResult:
    """Suppress an alert seen within 24 h; otherwise log it to today's daily log and remember it."""
    digest = alert_digest(text)
    if txn.alert_seen_since(digest, now - DEDUP_WINDOW):
        log.info("heartbeat alert suppressed", reason="duplicate within 24h", digest=digest[:12])
        return AlertResult("duplicate", digest, None)
    local = now.astimezone(zone)
    path = append_daily_log(workspace, now, zone, f"Heartbeat alert {local:%H:%M}", text)
    txn.remember_alert(digest, now, text[:PREVIEW_CHARS])
    log.info("heartbeat alert", preview=text[:PREVIEW_CHARS], daily_log=str(path))
    return AlertResult("appended", digest, path)
