"""The OpenAI-compatible `/v1` (issue 19), driven by the official `openai` client: streamed and
whole answers from the assistant with memory recall, tools and sessions; `/v1/models`; OpenAI's
error objects, the 401 of a wrong token included; a client that leaves stops the model.

The API is a real process (xprocess) with real SQLite and the real embedding model; its model is
`ScriptedServer` (tests/scripted_server.py), a real OpenAI-compatible server standing in for a
cloud model (a full-profile model that can call tools).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import openai
import pytest
from conftest import MODEL_INT8, write
from processes import service_env, start_service, stop_service, wait_for
from scripted_server import Reply, ScriptedServer
from test_api import free_port
from test_services import make_home

from shared.config import Config
from shared.memory import Memory

pytestmark = pytest.mark.slow

DENTIST = "# 2026-11-28\n\n- Dentist appointment: Tuesday 12 May 2026 at 9:30.\n- Bought bread.\n"
CITED = "memory/2026-11-28.md#L3"
REPLY = f"On Tuesday 12 May at 9:30 [{CITED}]. Not [memory/2026-11-28.md#L99]."
CHECKED = f"On Tuesday 12 May at 9:30 [{CITED}]. Not."  # the false citation dropped
ASK = [{"role": "user", "content": "When is the dentist?"}]


@dataclass
class Api:
    config: Config
    url: str
    token: str
    client: openai.OpenAI
    model: str


@pytest.fixture(scope="module")
def model():
    with ScriptedServer() as server:
        yield server


@pytest.fixture(scope="module")
def api(tmp_path_factory, xprocess, embedder, model):
    config = make_home(tmp_path_factory.mktemp("v1"))
    write(config.workspace_dir / "memory" / "2026-11-28.md", DENTIST)
    memory = Memory(config, embedder)
    memory.sync()
    memory.close()
    port = free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f'[server]\nport = {port}\n[llm]\nmodel = "openai/{model.model}"\n'
            f'api_base = "{model.base_url}"\n'
        )
    env = service_env(config.home, MODEL_INT8, LOCALGPT_QUERY_SERVICE_WAIT="0")
    start_service(xprocess, "lg-v1-api", ["run", "api"], env, "Uvicorn running on")
    url = f"http://127.0.0.1:{port}"
    token = (config.home / "token").read_text().strip()
    client = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0, timeout=60)
    yield Api(config, url, token, client, f"openai/{model.model}")
    client.close()
    stop_service(xprocess, "lg-v1-api")


def last_request_text(model: ScriptedServer) -> str:
    return json.dumps(model.requests[-1]["messages"], ensure_ascii=False)


def test_models_lists_the_configured_model(api):
    assert [m.id for m in api.client.models.list()] == [api.model]
    assert api.client.models.retrieve(api.model).id == api.model
    with pytest.raises(openai.NotFoundError) as missing:
        api.client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"


def test_a_whole_answer_with_recall_citations_sources_and_usage(api, model):
    model.replies = [Reply(REPLY)]
    raw = api.client.chat.completions.with_raw_response.create(model=api.model, messages=ASK)
    answer = raw.parse()
    choice = answer.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == CHECKED
    assert choice.finish_reason == "stop" and answer.object == "chat.completion"
    assert answer.model == api.model and answer.id.startswith("chatcmpl-")
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert answer.usage.prompt_tokens > 0
    extra = answer.model_extra["localgpt"]
    assert extra["sources"][0]["citation"].startswith("memory/2026-11-28.md#L")
    assert (
        extra["stopped"] == "answered" and raw.headers["x-localgpt-session"] == extra["session_id"]
    )
    sent = model.requests[-1]
    assert "Dentist appointment: Tuesday 12 May" in last_request_text(model)  # recalled
    assert "memory_search" in {tool["function"]["name"] for tool in sent["tools"]}


def test_a_streamed_answer_reads_as_the_whole_one(api, model):
    model.replies = [Reply(REPLY, chunk_chars=3)]
    chunks = list(
        api.client.chat.completions.create(
            model=api.model, messages=ASK, stream=True, stream_options={"include_usage": True}
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == CHECKED and len(pieces) > 3  # streamed, and checked
    assert chunks[0].choices[0].delta.role == "assistant"
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert final.choices[0].finish_reason == "stop"
    assert final.model_extra["localgpt"]["sources"][0]["path"] == "memory/2026-11-28.md"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)


def test_the_assistant_uses_its_tools(api, model):
    call = {"id": "call_1", "type": "function",
            "function": {"name": "memory_get", "arguments": json.dumps(
                {"path": "memory/2026-11-28.md", "from": 3, "lines": 1})}}  # fmt: skip
    model.replies = [Reply(tool_calls=[call]), Reply(f"Tuesday at 9:30 [{CITED}].")]
    stream = api.client.chat.completions.create(model=api.model, messages=ASK, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == f"Tuesday at 9:30 [{CITED}]."
    tool_message = next(m for m in model.requests[-1]["messages"] if m["role"] == "tool")
    assert "Dentist appointment: Tuesday 12 May 2026 at 9:30" in tool_message["content"]


def test_the_session_header_keeps_the_conversation(api, model):
    model.replies = [Reply("Noted: locker 42."), Reply("Locker 42.")]
    session = {"X-LocalGPT-Session": "v1-lockers"}
    first = api.client.chat.completions.create(
        model=api.model, messages=[{"role": "user", "content": "My gym locker is number 42."}],
        extra_headers=session,
    )  # fmt: skip
    assert first.model_extra["localgpt"]["session_id"] == "v1-lockers"
    second = api.client.chat.completions.create(
        model=api.model, messages=[{"role": "user", "content": "Which locker is mine?"}],
        extra_headers=session,
    )  # fmt: skip
    assert second.choices[0].message.content == "Locker 42."
    sent = last_request_text(model)
    assert "My gym locker is number 42." in sent and "Noted: locker 42." in sent
    transcript = httpx.get(
        api.url + "/api/sessions/v1-lockers", headers={"Authorization": f"Bearer {api.token}"}
    ).json()
    assert "Which locker is mine?" in json.dumps(transcript)


def test_the_user_field_picks_the_session_too(api, model):
    model.replies = [Reply("Noted."), Reply("Blue.")]
    for question in ("My bike is blue.", "What colour is my bike?"):
        answer = api.client.chat.completions.create(
            model=api.model, messages=[{"role": "user", "content": question}], user="alice"
        )
    assert answer.model_extra["localgpt"]["session_id"] == "alice"
    assert "My bike is blue." in last_request_text(model)


def test_without_a_session_the_clients_history_starts_a_new_one(api, model):
    model.replies = [Reply("Locker 7.")]
    messages = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "My locker at the pool is number 7."},
        {"role": "assistant", "content": "Got it, 7."},
        {"role": "user", "content": [{"type": "text", "text": "Which locker at the pool?"}]},
    ]
    answer = api.client.chat.completions.create(model=api.model, messages=messages)
    sent = last_request_text(model)
    assert "My locker at the pool is number 7." in sent and "Got it, 7." in sent
    assert "Which locker at the pool?" in sent
    assert "You are a pirate." not in sent  # LocalGPT's own system prompt applies
    assert answer.model_extra["localgpt"]["session_id"] not in ("v1-lockers", "alice")


# -- errors -------------------------------------------------------------------------------------


def assert_openai_error(response: httpx.Response, status: int, code: str | None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_a_wrong_token_gets_openais_401(api):
    wrong = openai.OpenAI(base_url=api.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.chat.completions.create(model=api.model, messages=ASK)
    assert refused.value.status_code == 401
    assert refused.value.body["type"] == "invalid_request_error"
    assert refused.value.code == "invalid_api_key"
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}):
        response = httpx.get(api.url + "/v1/models", headers=headers)
        error = assert_openai_error(response, 401, "invalid_api_key")
        assert error["type"] == "invalid_request_error"
    # The rest of the API keeps its own error shape.
    other = httpx.get(api.url + "/api/memory/stats").json()
    assert other == {"error": {"code": "unauthorized", "message": other["error"]["message"]}}


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "param"),
    [
        ({"model": "localgpt", "messages": [{"role": "assistant", "content": "hi"}]}, {}, 400,
         None, "messages"),
        ({"model": "localgpt", "messages": []}, {}, 400, None, "messages"),
        ({"model": "localgpt"}, {}, 400, None, "messages"),
        ({"model": "localgpt", "messages": [{"role": "wizard", "content": "hi"}]}, {}, 400,
         None, "messages.0.role"),
        ({"model": "localgpt", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:,"}}]}]}, {}, 400,
         "unsupported_content", "messages[0].content"),
        ({"model": "localgpt", "messages": ASK, "n": 2}, {}, 400, None, "n"),
        ({"model": "localgpt", "messages": ASK}, {"X-LocalGPT-Session": "../../etc"}, 400,
         "invalid_session", "X-LocalGPT-Session"),
        ({"model": "no-provider", "messages": ASK}, {}, 404, "model_not_found", "model"),
    ],
)  # fmt: skip
def test_bad_requests_get_openai_errors(api, body, headers, status, code, param):
    response = httpx.post(
        api.url + "/v1/chat/completions", json=body,
        headers={"Authorization": f"Bearer {api.token}", **headers},
    )  # fmt: skip
    error = assert_openai_error(response, status, code)
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_a_message_too_long_for_the_model_is_an_openai_error_whole_or_streamed(api):
    too_long = [{"role": "user", "content": "tell me about the garden " * 3600}]  # 90,000 chars
    with pytest.raises(openai.BadRequestError) as whole:
        api.client.chat.completions.create(model=api.model, messages=too_long)
    assert whole.value.code == "context_length_exceeded" and "too long" in whole.value.message
    stream = api.client.chat.completions.create(model=api.model, messages=too_long, stream=True)
    with pytest.raises(openai.APIError) as streamed:
        list(stream)
    assert "too long" in streamed.value.message
    assert streamed.value.body["code"] == "context_length_exceeded"


def test_not_json_and_unknown_routes_get_openai_errors(api):
    auth = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    assert_openai_error(httpx.post(api.url + "/v1/chat/completions", content=b"{", headers=auth),
                        400, None)  # fmt: skip
    assert_openai_error(httpx.get(api.url + "/v1/embeddings", headers=auth), 404, "unknown_url")


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_leaves_stops_the_model_within_a_second(api, model, stream):
    model.replies = [Reply("slow " * 100, first_token_delay=60), Reply("Right away.")]
    before = len(model.requests)
    model.disconnects.clear()
    body = {"model": api.model, "messages": ASK, "stream": stream}
    auth = {"Authorization": f"Bearer {api.token}"}
    with httpx.Client(timeout=5) as client:
        try:
            with client.stream("POST", api.url + "/v1/chat/completions", json=body, headers=auth):
                wait_for(lambda: len(model.requests) > before, 30, "the model to be asked", 0.02)
                left = time.monotonic()
        except httpx.ReadTimeout:  # a whole answer sends nothing until it is done: leave anyway
            left = time.monotonic()
    wait_for(lambda: model.disconnects, 5, "the model call to close", 0.02)
    assert model.disconnects[0] - left < 1.0
    started = time.monotonic()
    answer = api.client.chat.completions.create(model=api.model, messages=ASK)
    assert answer.choices[0].message.content == "Right away."
    assert time.monotonic() - started < 5
