"""Session transcripts (JSONL, append-only, resumable) and compaction with the memory flush.

Model replies are scripted through litellm's mock_response (see tests/llm_script.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from llm_script import ScriptedClient, tool_call, tool_calls_response

from shared.agent.assistant import Assistant
from shared.agent.compaction import text_tokens
from shared.agent.prompt import PromptOptions, build_system_prompt
from shared.agent.session import SessionError, SessionStore
from shared.agent.tools import FLUSH_TOOLS, ToolContext

NOW = datetime(2026, 11, 23, 18, 0, 0, tzinfo=ZoneInfo("UTC"))


def make(config, script, session=None):
    config.agent.auto_recall = 0
    client = ScriptedClient(config, script)
    store = SessionStore(config.sessions_dir)
    session = session or store.create(client.model, config.workspace_dir)
    ctx = ToolContext(config, clock=lambda: NOW)
    return Assistant(config, session, client, ctx), client


def test_transcript_is_jsonl_with_header_and_resumes(config):
    bot, _ = make(config, ["Hi! I am here.", "Your name is Ada."])
    bot.send("hello")
    bot.send("I am Ada. What is my name?")
    lines = [json.loads(x) for x in bot.session.path.read_text().splitlines()]
    assert lines[0]["type"] == "session" and lines[0]["id"] == bot.session.id
    assert [x["message"]["role"] for x in lines[1:]] == ["user", "assistant"] * 2
    assert lines[2]["parentId"] == lines[1]["id"]
    assert lines[-1]["usage"]["total_tokens"] >= 0 and lines[-1]["model"]

    resumed = SessionStore(config.sessions_dir).open(bot.session.id)
    again, client = make(config, ["Still Ada."], session=resumed)
    again.send("And now?")
    sent = [m["content"] for m in client.requests[0]["messages"][1:]]
    assert sent == [
        "hello",
        "Hi! I am here.",
        "I am Ada. What is my name?",
        "Your name is Ada.",
        "And now?",
    ]
    assert [i.id for i in SessionStore(config.sessions_dir).list()] == [bot.session.id]
    assert SessionStore(config.sessions_dir).list()[0].title == "hello"


def test_a_torn_last_line_is_skipped_and_appends_continue(config):
    bot, _ = make(config, ["one"])
    bot.send("first")
    with open(bot.session.path, "a") as handle:
        handle.write('{"type": "message", "id": "torn", "mess')  # a crash mid-write
    reopened = SessionStore(config.sessions_dir).open(bot.session.id)
    assert len(reopened.context_messages()) == 2
    reopened.add_message({"role": "user", "content": "after the crash"})
    final = SessionStore(config.sessions_dir).open(bot.session.id)
    assert final.context_messages()[-1]["content"] == "after the crash"


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", "x" * 129, "with space"])
def test_session_ids_cannot_leave_the_sessions_folder(config, bad):
    with pytest.raises(SessionError, match="invalid session id"):
        SessionStore(config.sessions_dir).open(bad)


def test_unknown_session_is_a_clear_error(config):
    with pytest.raises(SessionError, match="no session 'nope'"):
        SessionStore(config.sessions_dir).open("nope")


def test_compaction_flushes_memory_first_then_summarises(config, workspace):
    system = build_system_prompt(config, NOW, PromptOptions(tools=()))
    base = text_tokens(system) + 600  # tools add a few hundred tokens to the prompt
    window = 20_000
    config.llm.context_window = window
    config.agent.flush_at = config.agent.compact_at = (base + 2_600) / window
    config.agent.keep_recent = 1_300 / window
    long = "word " * 800  # ~1000 tokens
    bot, client = make(
        config,
        [
            "ok1",
            "ok2",
            # turn 3: the flush turn, then the summary, then the answer
            tool_calls_response(tool_call("memory_append", {"text": "Ada likes long texts."})),
            "NO_REPLY",
            "SUMMARY: Ada sent a long text and got ok1.",
            "ok3",
        ],
    )
    bot.send("one " + long)
    bot.send("two " + long)
    assert bot.session.compaction_count == 0
    bot.send("three " + long)

    daily = (workspace / "memory" / "2026-11-23.md").read_text()
    assert "Ada likes long texts." in daily
    flush_request = client.requests[2]
    assert {t["function"]["name"] for t in flush_request["tools"]} == set(FLUSH_TOOLS)
    assert flush_request["messages"][-1]["content"].startswith(
        "Pre-compaction memory flush. Store durable memories only in memory/2026-11-23.md"
    )
    assert "Pre-compaction memory flush turn." in flush_request["messages"][0]["content"]
    summary_request = client.requests[4]
    assert (
        summary_request["tools"] is None and "one word" in summary_request["messages"][1]["content"]
    )
    final_request = client.requests[5]
    assert "SUMMARY: Ada sent a long text and got ok1." in final_request["messages"][0]["content"]
    contents = [m["content"][:5] for m in final_request["messages"][1:]]
    assert contents == ["two w", "ok2", "three"], "turn 1 was compacted away, turn 2 kept"

    kinds = [e["type"] for e in bot.session.entries]
    assert kinds.count("compaction") == 1 and kinds.count("custom") == 1
    flush = next(e for e in bot.session.entries if e["type"] == "custom")
    assert flush["customType"] == "localgpt:memory-flush" and flush["data"]["toolCalls"] == 1
    assert bot.session.flushed_this_cycle() is False, "a new cycle starts after compaction"
    # the transcript on disk still has every message (append-only); only the context shrank
    on_disk = SessionStore(config.sessions_dir).open(bot.session.id)
    assert len([e for e in on_disk.entries if e["type"] == "message"]) == 6
    assert [m["content"] for m in on_disk.context_messages()][-1] == "ok3"
