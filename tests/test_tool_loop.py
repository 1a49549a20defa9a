"""The tool loop, driven by scripted model replies through litellm's mock_response.

See tests/llm_script.py for why a scripted model stands in here; the memory engine, the files
and the session transcripts are all real.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import write
from llm_script import ScriptedClient, tool_call, tool_calls_response

from shared.agent.assistant import Assistant
from shared.agent.llm import LLMError
from shared.agent.loop import TurnEvents, run_tool_loop
from shared.agent.session import SessionStore
from shared.agent.tools import CHAT_TOOLS, TOOLS, ToolContext

NOW = datetime(2026, 11, 23, 9, 30, 5, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture
def ctx(config, memory):
    return ToolContext(config, memory_factory=lambda: memory, clock=lambda: NOW)


def assistant(config, ctx, script, session_id=None):
    config.agent.auto_recall = 0
    client = ScriptedClient(config, script)
    store = SessionStore(config.sessions_dir)
    session = store.create(client.model, config.workspace_dir, session_id)
    return Assistant(config, session, client, ctx), client


def tool_messages(client, call_index):
    return [m for m in client.requests[call_index]["messages"] if m["role"] == "tool"]


def test_tool_call_then_answer_writes_the_daily_log_and_streams(config, ctx, workspace):
    bot, client = assistant(
        config,
        ctx,
        [
            tool_calls_response(tool_call("memory_append", {"text": "User prefers tea."})),
            "Noted: you prefer tea.",
        ],
    )
    tokens: list[str] = []
    result = bot.send("Remember that I prefer tea", TurnEvents(on_token=tokens.append))

    assert result.text == "Noted: you prefer tea."
    assert "".join(tokens) == "Noted: you prefer tea."
    assert (result.model_calls, result.tool_calls, result.stopped) == (2, 1, "answered")
    daily = workspace / "memory" / "2026-11-23.md"
    opening = f"<!-- localgpt:assistant at=2026-11-23T09:30:05+01:00 session={bot.session.id} -->"
    assert daily.read_text() == (
        f"# 2026-11-23\n\n{opening}\n### 09:30:05 CET\n\nUser prefers tea.\n"
        "<!-- /localgpt:assistant -->\n"
    )
    # the tool result went back to the model, framed as untrusted data
    fed_back = tool_messages(client, 1)
    assert len(fed_back) == 1 and fed_back[0]["tool_call_id"] == "call_1"
    assert "<<<UNTRUSTED_CONTENT" in fed_back[0]["content"]
    assert '"path": "memory/2026-11-23.md"' in fed_back[0]["content"]
    # tools were offered with JSON schemas
    assert {t["function"]["name"] for t in client.requests[0]["tools"]} == set(CHAT_TOOLS)
    # the transcript holds user, assistant(tool call), tool, assistant(answer)
    roles = [m["role"] for m in bot.session.context_messages()]
    assert roles == ["user", "assistant", "tool", "assistant"]


def test_malformed_and_unknown_tool_calls_go_back_as_errors(config, ctx):
    bot, client = assistant(
        config,
        ctx,
        [
            tool_calls_response(
                tool_call("memory_append", '{"text": "unterminated', "call_a"),
                tool_call("delete_everything", {}, "call_b"),
                tool_call("memory_get", {"path": "../../etc/passwd.md"}, "call_c"),
                tool_call("memory_get", {"path": "notes.txt"}, "call_d"),
            ),
            "Sorry, those calls failed.",
        ],
    )
    result = bot.send("do things")
    assert result.stopped == "answered"
    results = {m["tool_call_id"]: m["content"] for m in tool_messages(client, 1)}
    assert "not valid JSON" in results["call_a"]
    assert "unknown tool 'delete_everything'" in results["call_b"]
    assert "refused" in results["call_c"] and "outside the workspace" in results["call_c"]
    assert "markdown files only" in results["call_d"]


def test_a_tool_that_raises_becomes_an_error_result(config, workspace):
    def broken_memory():
        raise RuntimeError("index exploded")

    ctx = ToolContext(config, memory_factory=broken_memory, clock=lambda: NOW)
    bot, client = assistant(
        config,
        ctx,
        [tool_calls_response(tool_call("memory_search", {"query": "tea"})), "I could not search."],
    )
    result = bot.send("what do I drink?")
    assert result.text == "I could not search."
    [fed_back] = tool_messages(client, 1)
    assert "memory_search failed: RuntimeError: index exploded" in fed_back["content"]


def test_iteration_cap_stops_the_loop_and_keeps_history_valid(config, ctx):
    config.agent.max_tool_iterations = 3
    script = [
        tool_calls_response(tool_call("memory_search", {"query": f"q{i}"}, f"c{i}"))
        for i in range(3)
    ]
    bot, client = assistant(config, ctx, script)
    result = bot.send("loop forever")
    assert result.stopped == "iteration_cap"
    assert result.model_calls == 3 and len(client.requests) == 3
    assert "max_tool_iterations" in result.notice and not result.clean
    # every tool call has its result, so the next turn's history is valid
    messages = bot.session.context_messages()
    call_ids = [c["id"] for m in messages for c in m.get("tool_calls", [])]
    result_ids = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert call_ids == result_ids == ["c0", "c1", "c2"]
    assert bot.session.entries[-1]["stopped"] == "iteration_cap"


def test_memory_search_tool_matches_the_cli(config, ctx, memory, workspace):
    from conftest import run_cli

    write(workspace / "memory" / "2026-11-01.md", "# Trip\n\nWe booked the Lisbon flight.\n")
    memory.sync()
    outcome = TOOLS["memory_search"].handler(ctx, {"query": "Lisbon flight"})
    done = run_cli("memory", "search", "Lisbon flight", "--json")
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert outcome["results"] == cli["results"]
    assert outcome["mode"] == cli["mode"]
    assert outcome["results"][0]["path"] == "memory/2026-11-01.md"


def test_model_error_is_one_line_and_the_session_stays_valid(config, ctx):
    import litellm

    bot, _ = assistant(
        config, ctx, [litellm.RateLimitError("slow down", "openai", "scripted-test-model")]
    )
    with pytest.raises(LLMError) as info:
        bot.send("hello")
    assert "\n" not in str(info.value) and "rate-limiting" in str(info.value)
    assert bot.session.context_messages() == []
    assert bot.session.entries[-1]["customType"] == "localgpt:turn-failed"
    assert bot.session.entries[-1]["data"]["text"] == "hello"


def test_run_tool_loop_without_tools_sends_none(config, ctx):
    client = ScriptedClient(config, ["plain answer"])
    result = run_tool_loop(client, [{"role": "user", "content": "hi"}], ctx, (), 4)
    assert result.text == "plain answer"
    assert client.requests[0]["tools"] is None


def test_heartbeat_checkbox_is_offered_only_to_heartbeat_runs(config):
    from shared.agent.tools import HEARTBEAT_TOOLS

    assert "heartbeat_checkbox" not in CHAT_TOOLS
    assert set(HEARTBEAT_TOOLS) == set(CHAT_TOOLS) | {"heartbeat_checkbox"}
    ctx = ToolContext(config)
    (config.workspace_dir / "HEARTBEAT.md").write_text(
        "# HB\n\n- [ ] water plants\n- [ ] pay rent\n"
    )
    result = TOOLS["heartbeat_checkbox"].handler(ctx, {"item": "pay rent"})
    assert result["checked"] and result["changed"]
    assert (config.workspace_dir / "HEARTBEAT.md").read_text() == (
        "# HB\n\n- [ ] water plants\n- [x] pay rent\n"
    )
