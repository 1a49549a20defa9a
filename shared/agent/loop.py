"""The tool loop: call the model, run the tools it asks for, feed results back, until it answers.

Bounded by an iteration cap (the Rust LocalGPT's non-streaming path had none). Tool output goes
back framed as untrusted data; a malformed call or a failing tool becomes an error result for
the model, and every tool call gets a result so the history stays valid for the next turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class TurnResult:
    text: str
    new_messages: list[dict]  # assistant and tool messages, in order
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    )
    model_calls: int = 0
    tool_calls: int = 0
    stopped: str = "answered"  # answered | iteration_cap


def run_tool_loop(
    client: LLMClient,
    messages: list[dict],
    ctx: ToolContext,
    allowed_tools: tuple[str, ...],
    max_iterations: int,
    events: TurnEvents | None = None,
) -> TurnResult:
    """Run one user turn. `messages` is the full prompt (system, history, the new user message)."""
    events = events or TurnEvents()
    schemas = tool_schemas(allowed_tools) if allowed_tools else None
    result = TurnResult(text="", new_messages=[])
    for _ in range(max(1, max_iterations)):
        completion = client.complete(
            messages + result.new_messages, tools=schemas, on_token=events.on_token
        )
        result.model_calls += 1
        for key, value in completion.usage.items():
            result.usage[key] = result.usage.get(key, 0) + value
        message = completion.message
        result.new_messages.append(message)
        calls = message.get("tool_calls") or []
        if not calls:
            result.text = message.get("content") or ""
            return result
        for call in calls:
            result.new_messages.append(_run_call(ctx, call, allowed_tools, events))
            result.tool_calls += 1
    log.warning("tool_loop_capped", model=client.model, iterations=result.model_calls)
    result.stopped = "iteration_cap"
    partial = next(
        (m.get("content") for m in reversed(result.new_messages) if m.get("role") == "assistant"),
        "",
    )
    note = (
        f"[stopped: the model made {result.model_calls} calls in this turn without finishing; "
        "the limit is [agent] max_tool_iterations]"
    )
    result.text = f"{partial}\n\n{note}".strip() if partial else note
    return result


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
