"""Which sessions are conversations: the sessions list shows chats, not background runs.

A task, heartbeat or scheduled run works in a session of its own (`task-<job>`,
`heartbeat-<job>`, `cron-<job>`), reached from its job record; the ledger says which sessions
those are. (Sessions of runs from before the ledger are told by their names.) A session with
no message (a chat whose first turn failed before anything was said) is never listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.config import Config

SESSION_KINDS = ("conversation", "task", "heartbeat", "cron")
# Runs recorded before the ledger named their sessions like this.
_LEGACY = re.compile(r"^(task)-[0-9a-f]{32}$|^(heartbeat)-\d+$")


@dataclass(frozen=True)
class ListedSession:
    info: object  # shared.agent.session.SessionInfo
    kind: str
    job_id: str | None


def session_kinds(config: Config) -> dict[str, tuple[str, str]]:
    """session id -> (task | heartbeat | cron, job id), for the sessions runs made."""
    if not config.jobs_db.is_file():
        return {}
    from shared.ledger import JobLedger

    ledger = JobLedger(config.jobs_db)
    try:
        return ledger.sessions_by_kind()
    finally:
        ledger.close()


def kind_of(session_id: str, known: dict[str, tuple[str, str]]) -> tuple[str, str | None]:
    """(kind, job id or None)."""
    if session_id in known:
        return known[session_id]
    legacy = _LEGACY.match(session_id)
    if legacy:
        return legacy.group(1) or legacy.group(2), None
    return "conversation", None


def list_sessions(config: Config, kind: str = "conversation") -> list[ListedSession]:
    """Sessions with at least one message, most recent first; `kind` filters (or `all`)."""
    from shared.agent.session import SessionStore

    if kind != "all" and kind not in SESSION_KINDS:
        raise ValueError(f"unknown session kind {kind!r}; use {', '.join(SESSION_KINDS)} or all")
    known = session_kinds(config)
    out = []
    for info in SessionStore(config.sessions_dir).list():
        if not info.messages:
            continue
        found, job_id = kind_of(info.id, known)
        if kind in ("all", found):
            out.append(ListedSession(info, found, job_id))
    return out
