"""Keeping a session under the model's window: token estimates, where to cut, the summary.

Estimates use OpenClaw's 4-characters-a-token rule; the cut keeps the most recent turns whole
(it always starts at a user message, so tool calls stay paired with their results).
"""

from __future__ import annotations

import json

from shared.agent.llm import LLMClient
from shared.agent.untrusted import frame_untrusted

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
MAX_QUOTED_CHARS = 2_000  # per message in the transcript given to the summariser
MAX_SUMMARY_CHARS = 4_000

SUMMARY_SYSTEM = (
    "You summarise conversations so they can continue after older turns are dropped. Keep "
    "facts about the user, decisions, open tasks, names, dates and anything the user asked to "
    "remember. Write plain prose or short bullets, at most 200 words. Output only the summary."
)


def estimate_tokens(messages: list[dict]) -> int:
    chars = 0
    for message in messages:
        chars += len(str(message.get("content") or ""))
        if message.get("tool_calls"):
            chars += len(json.dumps(message["tool_calls"]))
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


def text_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN


def choose_cut(entries: list[dict], keep_tokens: int) -> int | None:
    """Index of the first entry to keep, or None when nothing can be dropped.

    Walks back from the newest entry until `keep_tokens` is used, then moves forward to the
    next user message so a kept turn is never split from its tool results.
    """
    kept = 0
    index = len(entries)
    while index > 0:
        size = estimate_tokens([entries[index - 1]["message"]])
        if kept + size > keep_tokens:
            break
        kept += size
        index -= 1
    starts = [i for i, e in enumerate(entries) if e["message"].get("role") == "user" and i >= index]
    if not starts:
        users = [i for i, e in enumerate(entries) if e["message"].get("role") == "user"]
        starts = users[-1:]
    if not starts or starts[0] == 0:
        return None
    return starts[0]


def summarise(client: LLMClient, previous: str, dropped: list[dict]) -> tuple[str, dict]:
    """Ask the model to summarise `dropped` and the previous summary; returns (text, usage)."""
    lines = []
    if previous:
        lines.append(f"Summary so far:\n{previous}\n")
    for message in dropped:
        role = message.get("role", "?")
        label = {"user": "User", "assistant": "Assistant"}.get(role, f"Tool {message.get('name')}")
        text = str(message.get("content") or "")
        if message.get("tool_calls"):
            names = ", ".join(c["function"]["name"] for c in message["tool_calls"])
            text = f"{text} [called {names}]".strip()
        if len(text) > MAX_QUOTED_CHARS:
            text = text[:MAX_QUOTED_CHARS] + "…"
        lines.append(f"{label}: {text}")
    request = [
        {"role": "system", "content": SUMMARY_SYSTEM},
        {
            "role": "user",
            "content": frame_untrusted("conversation transcript", "\n".join(lines))
            + "\n\nWrite the summary of the conversation above now.",
        },
    ]
    completion = client.complete(request)
    summary = (completion.message.get("content") or "").strip()
    if not summary:
        summary = "(The model returned no summary.) Earlier topics:\n" + "\n".join(lines)[-1500:]
    return summary[:MAX_SUMMARY_CHARS], completion.usage
