"""The tool loop: call the model, run the tools it asks for, feed results back, until it answers.

Bounded by an iteration cap (the Rust LocalGPT's non-streaming path had none). Tool output goes
back framed as untrusted data; a malformed call or a failing tool becomes an error result for
the model, and every tool call gets a result so the history stays valid for the next turn.
Every reply streams through a `ReplyGuard`: a reply that loops or recites the prompt is cut
where that starts and the turn ends with a notice, never as a clean answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.agent.cancel import CancelScope
from shared.agent.guard import ReplyGuard
from shared.agent.llm import LLMClient
from shared.agent.tools import ToolContext, ToolOutcome, run_tool, tool_schemas
from shared.agent.untrusted import frame_untrusted
from shared.logs import get_logger

log = get_logger(__name__)


@dataclass
class TurnEvents:
    """Callbacks for a live view of a turn (all optional)."""

    on_token: Callable[[str], None] | None = None
    on_tool_start: Callable[[str, str], None] | None = None  # name, raw arguments
    on_tool_end: Callable[[ToolOutcome], None] | None = None
    # The notes recalled for this turn (Source dicts), before the model reads them.
    on_sources: Callable[[list[dict]], None] | None = None
    # The model starts reading a prompt of about this many tokens (before its first token).
    on_reading: Callable[[int], None] | None = None


@dataclass
class TurnResult:
    text: str
    new_messages: list[dict]  # assistant and tool messages, in order
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    )
    model_calls: int = 0
    tool_calls: int = 0
    # answered | length (the token limit cut it) | guard (cut as degenerate) | empty |
    # iteration_cap
    stopped: str = "answered"
    notice: str = ""  # what the user should know about how the reply ended, if anything
    sources: list[Any] = field(default_factory=list)  # Source: the notes the answer rests on
    profile: str = ""

    @property
    def clean(self) -> bool:
        """A whole answer: not cut, not empty, not degenerate."""
        return self.stopped == "answered"


@dataclass
class GuardSettings:
    """What the reply guard compares a reply with: instructions it must not recite, and
    strings it must not show (paths on this machine)."""

    prompt_texts: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


class _Tripped(Exception):
    """Raised from the token callback to stop a degenerate reply at once."""


class _Runaway(Exception):
    """Raised from the token callback when a model ignores its token limit."""


RUNAWAY_CHARS_PER_TOKEN = 8  # a reply longer than max_tokens x this was not limited by the server


def run_tool_loop(
    client: LLMClient,
    messages: list[dict],
    ctx: ToolContext,
    allowed_tools: tuple[str, ...],
    max_iterations: int,
    events: TurnEvents | None = None,
    cancel: CancelScope | None = None,
    guard: GuardSettings | None = None,
    **call_options: Any,
) -> TurnResult:
    """Run one user turn. `messages` is the full prompt (system, history, the new user message)."""
    events = events or TurnEvents()
    guard = guard or GuardSettings()
    schemas = tool_schemas(allowed_tools) if allowed_tools else None
    result = TurnResult(text="", new_messages=[])
    for _ in range(max(1, max_iterations)):
        watch = ReplyGuard(guard.prompt_texts, guard.hidden)
        message, finish_reason = _call(
            client, messages + result.new_messages, schemas, events, cancel, watch, result,
            call_options,
        )  # fmt: skip
        result.new_messages.append(message)
        calls = message.get("tool_calls") or []
        if watch.tripped or not calls:
            result.text = message.get("content") or ""
            limit = call_options.get("max_tokens", client.config.llm.max_tokens)
            _settle(result, watch, finish_reason, client.model, limit)
            return result
        for call in calls:
            if cancel is not None:
                cancel.raise_if_cancelled()
            result.new_messages.append(_run_call(ctx, call, allowed_tools, events))
            result.tool_calls += 1
    log.warning("tool_loop_capped", model=client.model, iterations=result.model_calls)
    result.stopped = "iteration_cap"
    partial = next(
        (m.get("content") for m in reversed(result.new_messages) if m.get("role") == "assistant"),
        "",
    )
    result.notice = (
        f"Stopped: the model made {result.model_calls} calls in this turn without finishing; "
        "the limit is [agent] max_tool_iterations."
    )
    result.text = partial or ""
    return result


def _call(
    client: LLMClient,
    messages: list[dict],
    schemas: list[dict] | None,
    events: TurnEvents,
    cancel: CancelScope | None,
    watch: ReplyGuard,
    result: TurnResult,
    call_options: dict,
) -> tuple[dict, str | None]:
    """One model call through the guard; a tripped guard ends the call with the clean part."""

    limit = call_options.get("max_tokens", client.config.llm.max_tokens)
    runaway = limit * RUNAWAY_CHARS_PER_TOKEN

    def on_token(delta: str) -> None:
        shown = watch.feed(delta)
        if shown and events.on_token:
            events.on_token(shown)
        if watch.tripped:
            raise _Tripped
        if len(watch.text) > runaway:
            raise _Runaway

    try:
        completion = client.complete(messages, schemas, on_token, cancel, **call_options)
    except _Tripped:
        result.model_calls += 1
        return {"role": "assistant", "content": watch.text}, "guard"
    except _Runaway:
        result.model_calls += 1
        log.warning("reply_runaway", model=client.model, chars=len(watch.text))
        tail = watch.finish()
        if tail and events.on_token:
            events.on_token(tail)
        return {"role": "assistant", "content": watch.text}, "length"
    result.model_calls += 1
    for key, value in completion.usage.items():
        result.usage[key] = result.usage.get(key, 0) + value
    tail = watch.finish()
    if tail and events.on_token:
        events.on_token(tail)
    message = dict(completion.message)
    if watch.tripped:
        message.pop("tool_calls", None)
    if not message.get("tool_calls"):
        message["content"] = watch.text
    return message, completion.finish_reason


def _settle(
    result: TurnResult, watch: ReplyGuard, finish_reason: str | None, model: str, limit: int
) -> None:
    """Say how the reply ended when it did not end as a whole answer."""
    if watch.tripped:
        result.stopped = "guard"
        result.notice = watch.tripped.notice
        log.warning("reply_guarded", model=model, kind=watch.tripped.kind,
                    detail=watch.tripped.detail)  # fmt: skip
    elif finish_reason == "length":
        result.stopped = "length"
        result.notice = f"The reply was cut at the {limit}-token limit ([llm] max_tokens)."
    if not result.text.strip() and result.stopped == "answered":
        result.stopped = "empty"
        result.notice = "The model returned an empty reply."


def _run_call(ctx: ToolContext, call: dict, allowed: tuple[str, ...], events: TurnEvents) -> dict:
    function = call.get("function") or {}
    name = function.get("name") or ""
    arguments = function.get("arguments")
    if events.on_tool_start:
        events.on_tool_start(name, arguments if isinstance(arguments, str) else str(arguments))
    outcome = run_tool(ctx, name, arguments, allowed)
    log.info("tool_called", tool=name, ok=outcome.ok)
    if events.on_tool_end:
        events.on_tool_end(outcome)
    return {
        "role": "tool",
        "tool_call_id": call.get("id") or "",
        "name": name,
        "content": frame_untrusted(f"tool {name or '?'}", outcome.content),
    }
