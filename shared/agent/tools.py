"""The tools the model may call: memory search/get/append/update and read_skill.

Every call returns a JSON result; bad arguments and failures come back as `{"error": ...}` for
the model to read and correct, never as an exception out of the tool loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.agent.clock import user_now
from shared.agent.skills import discover_skills, find_skill, read_skill_body
from shared.config import Config
from shared.logs import get_logger
from shared.memory.access import FileRefused, MemoryFileError
from shared.memory.lines import read_lines
from shared.memory.writes import (
    ConfirmationRequired,
    MemoryWriteError,
    append_daily_entry,
    update_memory_md,
)
from shared.workspace import OutsideWorkspaceError

log = get_logger(__name__)

MAX_GET_CHARS = 20_000


class ToolInputError(ValueError):
    """The model's arguments cannot be used; the message tells it how to fix the call."""


@dataclass
class ToolContext:
    """What tools reach: the config, a lazily opened memory engine, and the user's clock."""

    config: Config
    memory_factory: Callable[[], Any] | None = None
    clock: Callable[[], datetime] | None = None
    session_id: str = ""  # the session whose turn writes: marked on and logged with each write
    _memory: Any = field(default=None, repr=False)

    @property
    def memory(self) -> Any:
        if self._memory is None:
            if self.memory_factory is None:
                from shared.memory import Memory

                self._memory = Memory(self.config)
            else:
                self._memory = self.memory_factory()
        return self._memory

    def now(self) -> datetime:
        return self.clock() if self.clock else user_now(self.config)

    def close(self) -> None:
        if self._memory is not None and self.memory_factory is None:
            self._memory.close()
        self._memory = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict
    handler: Callable[[ToolContext, dict], dict]

    def schema(self) -> dict:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass
class ToolOutcome:
    name: str
    ok: bool
    result: dict

    @property
    def content(self) -> str:
        return json.dumps(self.result, ensure_ascii=False)


def memory_search(ctx: ToolContext, args: dict) -> dict:
    query = _text(args, "query")
    limit = _int(args, "maxResults", default=ctx.config.memory.search_limit, low=1, high=100)
    response = ctx.memory.search(query, limit).as_dict()
    min_score = args.get("minScore")
    if isinstance(min_score, int | float):
        response["results"] = [r for r in response["results"] if r["score"] >= min_score]
    return response


def memory_get(ctx: ToolContext, args: dict) -> dict:
    path = _text(args, "path")
    start = _int(args, "from", default=1, low=1)
    count = _int(args, "lines", default=None, low=1)
    piece = read_lines(ctx.config.workspace_dir, path, start, count)
    out = {"path": piece.path, "from": piece.start_line, "to": piece.end_line}
    out["total_lines"] = piece.total_lines
    text = piece.text
    if len(text) > MAX_GET_CHARS:
        text = text[:MAX_GET_CHARS]
        out["truncated"] = f"cut at {MAX_GET_CHARS} chars; ask for fewer lines with from/lines"
    out["text"] = text
    return out


def memory_append(ctx: ToolContext, args: dict) -> dict:
    text = _text(args, "text")
    return append_daily_entry(ctx.config, text, ctx.now(), session=ctx.session_id).as_dict()


def memory_update(ctx: ToolContext, args: dict) -> dict:
    old = args.get("old", "")
    new = args.get("new")
    if not isinstance(old, str) or not isinstance(new, str):
        raise ToolInputError("memory_update needs string arguments `old` and `new`")
    return update_memory_md(ctx.config, old, new, ctx.now(), session=ctx.session_id).as_dict()


def read_skill(ctx: ToolContext, args: dict) -> dict:
    name = _text(args, "name")
    skill = find_skill(ctx.config.workspace_dir, name)
    if skill is None:
        known = ", ".join(s.name for s in discover_skills(ctx.config.workspace_dir)) or "none"
        raise ToolInputError(f"no skill named {name!r}; available: {known}")
    return {"name": skill.name, "location": skill.shown, "text": read_skill_body(skill)}


def heartbeat_checkbox(ctx: ToolContext, args: dict) -> dict:
    """Tick (or untick) one `- [ ]` item of HEARTBEAT.md, changing nothing else."""
    from shared.heartbeat import CheckboxError, set_checkbox

    item = _text(args, "item")
    checked = args.get("checked", True)
    if not isinstance(checked, bool):
        raise ToolInputError("`checked` must be true or false")
    try:
        result = set_checkbox(ctx.config.workspace_dir, item, checked=checked)
    except CheckboxError as exc:  # no match, ambiguous match, missing file: the model retries
        raise ToolInputError(str(exc)) from None
    return {
        "path": "HEARTBEAT.md",
        "line": result.line,
        "text": result.text,
        "checked": result.checked,
        "changed": result.changed,
    }


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "memory_search",
            "Mandatory recall step: search MEMORY.md + memory/*.md (keywords and meaning) before "
            "answering about prior work, decisions, dates, people, preferences or todos; returns "
            "top snippets with path + lines.",
            {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string"},
                    "maxResults": {"type": "number"},
                    "minScore": {"type": "number"},
                },
            },
            memory_search,
        ),
        Tool(
            "memory_get",
            "Read lines of a markdown file in the workspace (e.g. MEMORY.md, memory/*.md); use "
            "after memory_search to pull only the needed lines.",
            {
                "type": "object",
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "description": "workspace-relative .md path"},
                    "from": {"type": "number", "description": "first line, 1-based"},
                    "lines": {"type": "number", "description": "how many lines"},
                },
            },
            memory_get,
        ),
        Tool(
            "memory_append",
            "Append a timestamped entry to today's daily log memory/YYYY-MM-DD.md (creating it). "
            "Use it to write down facts, decisions and todos worth remembering.",
            {
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string", "description": "markdown to append"}},
            },
            memory_append,
        ),
        Tool(
            "memory_update",
            "Edit MEMORY.md (curated long-term memory): replace the passage `old`, which must "
            "occur exactly once, with `new`. An empty `old` appends `new` at the end. Keep "
            "edits small: removing more than a fifth of the file needs the user's "
            "confirmation. Every previous version is kept.",
            {
                "type": "object",
                "required": ["new"],
                "properties": {
                    "old": {"type": "string", "description": "exact passage to replace"},
                    "new": {"type": "string", "description": "replacement text"},
                },
            },
            memory_update,
        ),
        Tool(
            "read_skill",
            "Load the instructions (SKILL.md) of a skill listed in <available_skills>.",
            {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
            read_skill,
        ),
        Tool(
            "heartbeat_checkbox",
            "Mark an item of HEARTBEAT.md done (`- [ ]` -> `- [x]`) or not done, by a unique "
            "part of its text. Only the checkbox changes.",
            {
                "type": "object",
                "required": ["item"],
                "properties": {
                    "item": {"type": "string", "description": "text of the checklist item"},
                    "checked": {"type": "boolean", "description": "true marks it done"},
                },
            },
            heartbeat_checkbox,
        ),
    )
}

# What a chat or task turn is offered; heartbeat runs may also tick HEARTBEAT.md's checkboxes.
CHAT_TOOLS = tuple(name for name in TOOLS if name != "heartbeat_checkbox")
HEARTBEAT_TOOLS = (*CHAT_TOOLS, "heartbeat_checkbox")

# The memory flush may only add to today's log (OpenClaw §2.9: bootstrap files are read-only).
FLUSH_TOOLS = ("memory_search", "memory_get", "memory_append")


def tool_schemas(names: tuple[str, ...] | None = None) -> list[dict]:
    return [TOOLS[n].schema() for n in (names or tuple(TOOLS))]


def run_tool(
    ctx: ToolContext, name: str, raw_arguments: str | dict | None, allowed: tuple[str, ...]
) -> ToolOutcome:
    """Run one tool call; any problem becomes an error result the model can act on."""
    if name not in allowed or name not in TOOLS:
        return _error(name, f"unknown tool {name!r}; available tools: {', '.join(allowed)}")
    try:
        args = _parse_arguments(raw_arguments)
        result = TOOLS[name].handler(ctx, args)
    except ConfirmationRequired as exc:  # the user decides; the model is told so
        return ToolOutcome(name, False, exc.as_dict())
    except (ToolInputError, MemoryWriteError) as exc:
        return _error(name, str(exc))
    except (OutsideWorkspaceError, FileRefused) as exc:
        return _error(name, f"refused: {exc}")
    except MemoryFileError as exc:  # missing, or not readable as text
        return _error(name, str(exc))
    except Exception as exc:  # a tool bug must not end the user's turn
        log.exception("tool_failed", tool=name)
        return _error(name, f"{name} failed: {type(exc).__name__}: {exc}")
    return ToolOutcome(name, True, result)


def _parse_arguments(raw: str | dict | None) -> dict:
    if isinstance(raw, dict):
        return raw
    if raw is None or not str(raw).strip():
        return {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        message = f"the arguments are not valid JSON ({exc.msg}); send a JSON object"
        raise ToolInputError(message) from None
    if not isinstance(args, dict):
        raise ToolInputError("the arguments must be a JSON object")
    return args


def _text(args: dict, key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ToolInputError(f"`{key}` is required and must be a non-empty string")
    return value


def _int(
    args: dict, key: str, default: int | None, low: int, high: int | None = None
) -> int | None:
    value = args.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ToolInputError(f"`{key}` must be a whole number")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise ToolInputError(f"`{key}` must be {bound}")
    return int(value)


def _error(name: str, message: str) -> ToolOutcome:
    return ToolOutcome(name, False, {"error": message})
