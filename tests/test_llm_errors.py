"""Provider problems give one actionable line (never a traceback), and keys never leak."""

from __future__ import annotations

import socket

import pytest
from conftest import run_cli

from shared.agent.llm import LLMError, resolve_endpoint


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_error_line(done) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unreachable_embedded_server(home):
    done = run_cli("ask", "hello", env={"LOCALGPT_LOCAL_LLM_PORT": str(closed_port())})
    line = one_error_line(done)
    assert "cannot reach http://127.0.0.1:" in line and "localgpt run llm" in line


def test_unreachable_openai_compatible_server_does_not_leak_the_key(home):
    secret = "sk-test-0123456789abcdef"
    done = run_cli(
        "-v",
        "ask",
        "hello",
        "--model",
        "openai/my-model",
        env={
            "LOCALGPT_LLM_API_BASE": f"http://127.0.0.1:{closed_port()}/v1",
            "LOCALGPT_LLM_API_KEY_ENV": "MY_LLM_KEY",
            "MY_LLM_KEY": secret,
        },
    )
    assert done.returncode == 1
    assert "cannot reach" in done.stderr
    assert secret not in done.stderr and secret not in done.stdout


def test_missing_key_names_the_variable(home, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    done = run_cli("ask", "hi", "--model", "anthropic/claude-sonnet-4-5")
    line = one_error_line(done)
    assert "$ANTHROPIC_API_KEY is not set" in line and "[llm] api_key_env" in line


def test_model_without_provider(home):
    line = one_error_line(run_cli("ask", "hi", "--model", "gpt-4o"))
    assert "needs a provider prefix" in line


def test_empty_question(home):
    assert "the question is empty" in one_error_line(run_cli("ask", "  "))


def test_endpoints_resolve_per_provider(config, monkeypatch):
    local = resolve_endpoint(config)
    assert (local.litellm_model, local.api_base) == (
        "openai/smollm2-135m-instruct",
        "http://127.0.0.1:31328/v1",
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k-anthropic")
    anthropic = resolve_endpoint(config, "anthropic/claude-sonnet-4-5")
    assert (anthropic.api_base, anthropic.api_key) == (None, "k-anthropic")
    assert "k-anthropic" not in repr(anthropic)
    ollama = resolve_endpoint(config, "ollama_chat/llama3")
    assert ollama.api_key is None
    config.llm.api_base = "http://127.0.0.1:8000/v1"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    compatible = resolve_endpoint(config, "openai/qwen")
    assert compatible.api_base == "http://127.0.0.1:8000/v1" and compatible.api_key
    config.llm.api_base = ""
    with pytest.raises(LLMError, match=r"\$OPENAI_API_KEY is not set"):
        resolve_endpoint(config, "openai/gpt-4o-mini")


def test_model_server_refuses_non_loopback_addresses(home):
    line = one_error_line(run_cli("run", "llm", "--host", "0.0.0.0"))
    assert "not a loopback address" in line and "--allow-remote" in line


def test_server_shows_tool_history_to_the_model_as_text():
    from services.llm.server import plain_messages

    converted = plain_messages(
        [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "function": {"name": "memory_search"}}],
            },
            {"role": "tool", "name": "memory_search", "content": "{}"},
        ]
    )
    assert converted == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "(called tools: memory_search)"},
        {"role": "user", "content": "Tool result (memory_search):\n{}"},
    ]


def test_unknown_time_zone_is_a_config_error(home):
    done = run_cli("ask", "hi", env={"LOCALGPT_TIMEZONE": "Mars/Olympus_Mons"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "not a known IANA time zone" in done.stderr
