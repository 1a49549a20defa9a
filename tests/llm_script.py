"""A scripted model for unit tests of the tool loop.

A cloud LLM cannot exist here, so these tests stand one in with litellm's own `mock_response`:
every call still goes through litellm's real streaming and `stream_chunk_builder`, only the
model's words come from the script. End-to-end tests use the real embedded model instead.
"""

from __future__ import annotations

import json
from typing import Any

from litellm import ModelResponse

from shared.agent.llm import NO_KEY, Endpoint, LLMClient


def tool_call(name: str, arguments: Any, call_id: str = "call_1") -> dict:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def tool_calls_response(*calls: dict) -> ModelResponse:
    return ModelResponse(
        choices=[
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": list(calls)},
            }
        ]
    )


class ScriptedClient(LLMClient):
    """Answers each call with the next scripted reply: text, a ModelResponse, or an exception."""

    def __init__(self, config, script: list) -> None:
        super().__init__(config)
        # An OpenAI-compatible endpoint that is never contacted: mock_response answers first.
        self.endpoint = Endpoint(
            "openai/scripted-test-model",
            "openai/scripted-test-model",
            "openai",
            "http://127.0.0.1:9/v1",
            NO_KEY,
        )
        self.script = list(script)
        self.requests: list[dict] = []

    def complete(self, messages, tools=None, on_token=None, cancel=None, **extra):
        self.requests.append({"messages": [dict(m) for m in messages], "tools": tools, **extra})
        if not self.script:
            raise AssertionError("the model was called more often than scripted")
        reply = self.script.pop(0)
        return super().complete(messages, tools, on_token, cancel, mock_response=reply, **extra)
