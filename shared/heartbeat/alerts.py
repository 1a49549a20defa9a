"""Alerts: grounded in the workspace, kept with the run, repeats within 24 h suppressed.

A heartbeat reply that is not an acknowledgement is an alert. It is raised only when it cites
a note line that exists (`path#Lx-Ly`, checked against the file; the instruction files such as
HEARTBEAT.md are no evidence); otherwise it is kept with the run as `ungrounded` and not raised,
since a small model invents things. A raised alert lives in the heartbeat state (status, the
web page) and the logs; it reaches the daily log only when `[heartbeat] log_alerts_to_daily`
is on, and then marked as the assistant's.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shared.logs import get_logger
from shared.workspace import is_instruction_file, is_template_text

if TYPE_CHECKING:
    from shared.heartbeat.state import StateTxn

DEDUP_WINDOW = timedelta(hours=24)
PREVIEW_CHARS = 200
MAX_ALERT_CHARS = 4_000  # kept with the run

log = get_logger(__name__)


@dataclass(frozen=True)
class AlertResult:
    kind: Literal["raised", "duplicate"]
    digest: str


def normalise_alert(text: str) -> str:
    """Case, Unicode form and whitespace differences do not make an alert new."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def alert_digest(text: str) -> str:
    return hashlib.sha256(normalise_alert(text).encode("utf-8")).hexdigest()


def grounding(workspace: Path, text: str) -> list[str]:
    """The citations in `text` of workspace lines that exist (`path#Lx-Ly`), in order.
    A path must be a note the read routes would serve and the lines must be in it; the
    instruction files (HEARTBEAT.md, AGENTS.md, ...) tell the assistant what to check and
    are shown in its prompt, so citing them proves nothing, and nor do lines still as the
    workspace was seeded (USER.md's empty fields)."""
    from shared.agent.citations import CITATION  # lazily: the heartbeat loop never needs it
    from shared.memory.access import MemoryFileError
    from shared.memory.lines import read_lines

    found: list[str] = []
    for match in CITATION.finditer(text):
        start = int(match["start"])
        end = int(match["end"] or start)
        if start < 1 or end < start or is_instruction_file(match["path"]):
            continue
        try:
            piece = read_lines(workspace, match["path"], 1, None)
        except (MemoryFileError, ValueError):  # not a note, missing, outside
            continue
        if end > piece.total_lines or match.group(0) in found:
            continue
        if is_template_text(match["path"], piece.text.split("\n")[start - 1 : end]):
            continue  # the seeded template's empty fields are not the user's news
        found.append(match.group(0))
    return found


def record_alert(txn: StateTxn, text: str, now: datetime) -> AlertResult:
    """Suppress an alert seen within 24 h; otherwise remember it (for the 24 h window)."""
    digest = alert_digest(text)
    if txn.alert_seen_since(digest, now - DEDUP_WINDOW):
        log.info("heartbeat alert suppressed", reason="duplicate within 24h", digest=digest[:12])
        return AlertResult("duplicate", digest)
    txn.remember_alert(digest, now, text[:PREVIEW_CHARS])
    return AlertResult("raised", digest)
