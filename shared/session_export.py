"""A chat transcript as people read it: the page's messages, a markdown export, and search.

A turn that ended without an answer is a custom entry in the transcript (failed: the error;
stopped: by the user); here it reads as what was asked followed by how it ended, in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from shared.agent.session import FAILED_TYPE, STOPPED_TYPE, Session

# The assistant frames recalled notes as untrusted data inside the stored user message
# (shared/agent/untrusted.py); an export shows what the user typed (entry `text`) instead.
_STOPPED_TEXT = "Stopped before it answered."


def shown_messages(entries: list[dict]) -> Iterator[dict]:
    """Message entries, with failed and stopped turns as a user entry plus an assistant entry
    carrying `error` or `interrupted`."""
    for entry in entries:
        kind = entry.get("type")
        if kind == "message":
            yield entry
        elif kind == "custom" and entry.get("customType") in (FAILED_TYPE, STOPPED_TYPE):
            data = entry.get("data") or {}
            at = entry.get("timestamp")
            yield {"message": {"role": "user", "content": data.get("text", "")}, "timestamp": at}
            ending = (
                {"error": data.get("error") or "the turn failed"}
                if entry["customType"] == FAILED_TYPE
                else {"interrupted": True}
            )
            yield {"message": {"role": "assistant", "content": ""}, "timestamp": at, **ending}


def export_markdown(session: Session) -> str:
    """The conversation as markdown: a heading a message, answers' sources as citations."""
    out = [f"# {session.title or 'Untitled chat'}", ""]
    out.append(f"Session `{session.id}` · model {session.model or 'unknown'}")
    for entry in shown_messages(session.entries):
        message = entry["message"]
        role = message.get("role")
        if role == "user":
            text = entry.get("text") or _content(message.get("content"))
            out += ["", f"## You · {_when(entry)}", "", text.strip()]
        elif role == "assistant":
            out += _assistant(entry, message)
    return "\n".join(out).rstrip() + "\n"


def export_name(session: Session) -> str:
    """A file name for the download: the title's words, then the id."""
    words = re.sub(r"[^A-Za-z0-9]+", "-", session.title or "").strip("-").lower()[:40]
    return f"{words or 'chat'}-{session.id}.md"


def session_matches(path: Path, query: str) -> bool:
    """Whether a transcript's title or messages contain `query` (case-insensitive)."""
    from shared.agent.session import SessionStore

    needle = query.strip().lower()
    session = SessionStore(path.parent).open(path.stem)
    if needle in session.title.lower():
        return True
    for entry in shown_messages(session.entries):
        message = entry["message"]
        if message.get("role") not in ("user", "assistant"):
            continue
        text = entry.get("text") or _content(message.get("content"))
        if needle in text.lower():
            return True
    return False


def _assistant(entry: dict, message: dict) -> list[str]:
    if entry.get("error"):
        return ["", f"## LocalGPT · {_when(entry)}", "", f"> **Failed:** {entry['error']}"]
    if entry.get("interrupted"):
        return ["", f"## LocalGPT · {_when(entry)}", "", f"> {_STOPPED_TEXT}"]
    text = _content(message.get("content")).strip()
    if not text:  # a tool call on the way to the answer
        calls = [c.get("function", c).get("name", "tool") for c in message.get("tool_calls") or []]
        return ["", f"_used {', '.join(calls)}_"] if calls else []
    lines = ["", f"## LocalGPT · {_when(entry)}", "", text]
    sources = entry.get("sources") or []
    if sources:
        lines += ["", "Sources:"]
        lines += [
            f"- [{s.get('number', i)}] `{s.get('citation', '')}`" for i, s in enumerate(sources, 1)
        ]
    if entry.get("notice"):
        lines += ["", f"> {entry['notice']}"]
    return lines


def _content(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in content)
    return "" if content is None else json.dumps(content)


def _when(entry: dict) -> str:
    stamp = str(entry.get("timestamp") or "")
    return stamp[:16].replace("T", " ") + (" UTC" if stamp.endswith("Z") else "") if stamp else ""
