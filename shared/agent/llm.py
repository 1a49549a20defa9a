"""Talking to a model through litellm: provider resolution, streaming, and one-line errors.

litellm is imported on first use with its cost map kept local (field notes §5.1), so commands
that never call a model do not pay its ~2 s import or touch the network. Every provider failure
becomes an `LLMError` whose message says what to do; the API key never appears in it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.agent.cancel import CancelScope, TurnCancelled
from shared.config import Config
from shared.logs import get_logger

log = get_logger(__name__)

LOCAL_PREFIX = "local/"
# Keys litellm reads by itself for providers whose key we check before calling.
PROVIDER_KEY_ENV = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "xai": "XAI_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}
NO_KEY = "no-key-needed"  # OpenAI-compatible local servers accept any key
CONNECT_CHECK_SECONDS = 0.5
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class LLMError(Exception):
    """A model call failed; str() is one actionable line for the user."""


@dataclass(frozen=True)
class Endpoint:
    """A resolved model: what litellm is called with (the key is never printed)."""

    name: str  # as configured, e.g. local/smollm2-135m-instruct
    litellm_model: str
    provider: str
    api_base: str | None
    api_key: str | None = field(default=None, repr=False)
    key_source: str = ""  # where the key came from, for messages
    reason: str = ""  # why this model answers (shared/models/choose.py), for status and greetings

    @property
    def supports_tools(self) -> bool:
        """The embedded server ignores `tools` (a 135M model cannot use them)."""
        return self.provider != "local"

    @property
    def where(self) -> str:
        return self.api_base or f"the {self.provider} API"


@dataclass
class Completion:
    """One model call's outcome: the assistant message in OpenAI shape, plus token usage."""

    message: dict
    finish_reason: str | None
    usage: dict[str, int]


def resolve_endpoint(config: Config, model: str | None = None) -> Endpoint:
    """Turn `[llm]` settings into call parameters; a missing key fails here, before any call.

    Without `model` and without a model set by the user, the best model available answers
    (shared/models/choose.py)."""
    if model:
        return _resolve(config, model)
    from shared.models.choose import current_choice

    choice = current_choice(config)
    return dataclasses.replace(_resolve(choice.applied(config), None), reason=choice.reason)


def _resolve(config: Config, model: str | None) -> Endpoint:
    name = (model or config.llm.model).strip()
    if name.startswith(LOCAL_PREFIX):
        served = name[len(LOCAL_PREFIX) :]
        base = config.llm.api_base or f"http://{config.local_llm.host}:{config.local_llm.port}/v1"
        return Endpoint(name, f"openai/{served}", "local", base, NO_KEY)
    if "/" not in name:
        raise LLMError(
            f"model {name!r} needs a provider prefix, e.g. anthropic/claude-sonnet-4-5, "
            "openai/gpt-4o-mini, ollama_chat/llama3 or local/smollm2-135m-instruct"
        )
    provider = name.split("/", 1)[0]
    api_base = config.llm.api_base or None
    key_env = config.llm.api_key_env.strip() or PROVIDER_KEY_ENV.get(provider, "")
    key = os.environ.get(key_env) if key_env else None
    if key_env and not key:
        if provider == "openai" and api_base and not config.llm.api_key_env:
            return Endpoint(name, name, provider, api_base, NO_KEY)  # e.g. a local vLLM
        raise LLMError(
            f"no API key for {name}: ${key_env} is not set; export it, or set "
            "[llm] api_key_env in config.toml to the variable that holds the key"
        )
    return Endpoint(name, name, provider, api_base, key, f"${key_env}" if key_env else "")


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _io_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop for model calls, on a daemon thread started on first use."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="llm-io", daemon=True).start()
        return _loop


def load_litellm() -> Any:
    """Import litellm quietly and offline (no cost-map fetch, no feedback banners)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    return litellm


class LLMClient:
    """Streams one completion at a time from the configured model.

    Calls run on the process's model I/O loop (`_io_loop`), so a `CancelScope` can stop one from
    any thread at once: the call's task is cancelled and, for OpenAI-compatible servers (the
    embedded model among them), its connection closed, which stops generation at the server.
    """

    def __init__(self, config: Config, model: str | None = None) -> None:
        self.config = config
        self.endpoint = resolve_endpoint(config, model)
        self._http: Any = None  # an AsyncOpenAI client, for OpenAI-compatible endpoints

    @property
    def model(self) -> str:
        return self.endpoint.name

    def complete(
        self,
        messages: list[dict],
        tools: list[dict] | None = None,
        on_token: Callable[[str], None] | None = None,
        cancel: CancelScope | None = None,
        **extra: Any,
    ) -> Completion:
        """Stream a completion, calling `on_token` per text delta; tool calls are rebuilt.

        Raises LLMError when the model fails, TurnCancelled when `cancel` fires, and whatever
        `on_token` raises (the stream is aborted first)."""
        litellm = load_litellm()
        kwargs = self._call_kwargs(messages, tools) | extra
        if cancel is not None:
            cancel.raise_if_cancelled()
        events: queue.Queue = queue.Queue()
        loop = _io_loop()
        task = asyncio.run_coroutine_threadsafe(self._produce(litellm, kwargs, events), loop)

        def abort() -> None:
            loop.call_soon_threadsafe(self._abort, task)
            events.put(("cancelled", None))

        forget = cancel.on_cancel(abort) if cancel is not None else (lambda: None)
        chunks: list[Any] = []
        try:
            while (event := events.get())[0] == "chunk":
                chunk = event[1]
                chunks.append(chunk)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta and on_token:
                    on_token(delta)
        except BaseException:
            abort()  # the consumer gave up (guard, cancel, Ctrl-C): stop generating
            raise
        finally:
            forget()
        kind, payload = event
        if kind == "cancelled" or (cancel is not None and cancel.cancelled):
            raise TurnCancelled
        if kind == "error":
            raise LLMError(self.explain(payload)) from None
        try:
            built = litellm.stream_chunk_builder(chunks, messages=messages)
        except Exception as exc:
            raise LLMError(self.explain(exc)) from None
        if built is None or not built.choices:
            raise LLMError(f"{self.model} returned an empty response")
        return _completion_from(built)

    async def _produce(self, litellm: Any, kwargs: dict, events: queue.Queue) -> None:
        """On the I/O loop: run the streaming call, handing chunks to the calling thread."""
        try:
            if self._openai_compatible:
                kwargs["client"] = self._client()
            response = await litellm.acompletion(**kwargs)
            async for chunk in response:
                events.put(("chunk", chunk))
            events.put(("end", None))
        except asyncio.CancelledError:
            events.put(("cancelled", None))
            raise
        except Exception as exc:
            events.put(("error", exc))

    def _abort(self, task: Any) -> None:
        """On the I/O loop: cancel the call and drop its connection (the server stops)."""
        task.cancel()
        client, self._http = self._http, None
        if client is not None:
            asyncio.ensure_future(client.close())

    def unreachable_reason(self) -> str | None:
        """Why the model cannot answer, found in a millisecond: a server on this machine (the
        local model server, Ollama, a local vLLM) whose port refuses connections. The CLI asks
        before a turn: a refused port took seconds to report (litellm's import, a memory
        search, then the call). Remote endpoints are left to the call itself."""
        address = _loopback_address(self.endpoint.api_base)
        if address is None:
            return None
        try:
            socket.create_connection(address, timeout=CONNECT_CHECK_SECONDS).close()
        except ConnectionRefusedError:
            return _explain(self.endpoint, ConnectionRefusedError("connection refused"))
        except OSError:  # slow or odd: let the call report it properly
            return None
        return None

    @property
    def _openai_compatible(self) -> bool:
        return self.endpoint.litellm_model.startswith("openai/")

    def _client(self) -> Any:
        if self._http is None:
            import openai

            ep = self.endpoint
            self._http = openai.AsyncOpenAI(
                api_key=ep.api_key or NO_KEY,
                base_url=ep.api_base or None,
                timeout=self.config.llm.timeout,
                max_retries=0,
            )
        return self._http

    def _call_kwargs(self, messages: list[dict], tools: list[dict] | None) -> dict[str, Any]:
        ep, llm = self.endpoint, self.config.llm
        kwargs: dict[str, Any] = {
            "model": ep.litellm_model,
            "messages": without_machine_paths(messages, self.config),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": llm.max_tokens,
            "temperature": llm.temperature,
            "timeout": llm.timeout,
            "num_retries": 0,
            "max_retries": 0,  # the OpenAI SDK's own retries: 8 s of backoff on a refused port
        }
        if tools:
            kwargs["tools"] = tools
        if ep.api_base:
            kwargs["api_base"] = ep.api_base
        if ep.api_key:
            kwargs["api_key"] = ep.api_key
        return kwargs

    def explain(self, exc: BaseException) -> str:
        """One line saying what went wrong and what to do, with the key redacted."""
        return redact(_explain(self.endpoint, exc), self.endpoint.api_key)


def without_machine_paths(messages: list[dict], config: Config) -> list[dict]:
    """The messages with this machine's paths made relative: the workspace becomes `.`, the
    LocalGPT home `$LOCALGPT_HOME`, the user's home `~`. Nothing absolute goes to a provider,
    whatever a note, a tool result or an error message contained."""
    pairs = _path_replacements(config)
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            message = {**message, "content": _replace_all(content, pairs)}
        elif isinstance(content, list):
            parts = [
                {**p, "text": _replace_all(p["text"], pairs)}
                if isinstance(p, dict) and isinstance(p.get("text"), str)
                else p
                for p in content
            ]
            message = {**message, "content": parts}
        out.append(message)
    return out


def _path_replacements(config: Config) -> list[tuple[str, str]]:
    pairs = {
        str(config.workspace_dir): ".",
        str(config.home): "$LOCALGPT_HOME",
        str(Path.home()): "~",
    }
    # Longest first: the workspace usually lies inside the home.
    ordered = sorted((p for p in pairs.items() if len(p[0]) > 1), key=lambda p: -len(p[0]))
    return [(f"{path}/", "" if shown == "." else f"{shown}/") for path, shown in ordered] + ordered


def _replace_all(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        if old in text:
            text = text.replace(old, new)
    return text


def _loopback_address(api_base: str | None) -> tuple[str, int] | None:
    """(host, port) of an http(s) endpoint on this machine, else None."""
    if not api_base:
        return None
    from urllib.parse import urlsplit

    try:
        url = urlsplit(api_base)
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        return None
    host = url.hostname or ""
    if host not in LOOPBACK_NAMES and not host.startswith("127."):
        return None
    return host, port


def _explain(ep: Endpoint, exc: BaseException) -> str:
    kind = type(exc).__name__
    detail = _first_line(str(exc))
    local_hint = " (start it with `localgpt run llm`)" if ep.provider == "local" else ""
    if kind in ("Timeout", "APITimeoutError") or "timed out" in detail.lower():
        return f"{ep.name} at {ep.where} did not answer in time; try again or raise [llm] timeout"
    if kind in ("APIConnectionError", "ServiceUnavailableError") or _is_refused(exc):
        return f"cannot reach {ep.where} for {ep.name}: is the server running?{local_hint}"
    if kind == "AuthenticationError":
        source = f" from {ep.key_source}" if ep.key_source else ""
        return f"{ep.where} rejected the API key{source} for {ep.name}; check the key"
    if kind == "NotFoundError" or "model_not_found" in detail or "does not exist" in detail:
        if ep.provider == "local":
            return (
                f"model {ep.name!r} was not found at {ep.where}: `localgpt run llm` serves "
                "another one (`localgpt models list` shows them; after `localgpt models use`, "
                f"restart it) ({detail})"
            )
        return f"model {ep.name!r} was not found at {ep.where}; check [llm] model ({detail})"
    if "LLM Provider NOT provided" in detail:
        return f"litellm does not know the provider of {ep.name!r}; use provider/model"
    if kind == "RateLimitError":
        return f"{ep.where} is rate-limiting {ep.name}; wait a moment and retry"
    if kind == "ContextWindowExceededError":
        return f"the conversation is too long for {ep.name}; start a new session (/new)"
    return f"{ep.name} failed ({kind}): {detail}"


def _is_refused(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("connection refused", "connection error", "connecterror"))


def _first_line(text: str, limit: int = 240) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def redact(text: str, secret: str | None) -> str:
    if secret and secret != NO_KEY and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _completion_from(response: Any) -> Completion:
    choice = response.choices[0]
    msg = choice.message
    message: dict[str, Any] = {"role": "assistant", "content": msg.content or ""}
    calls = getattr(msg, "tool_calls", None) or []
    if calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{i}",
                "type": "function",
                "function": {
                    "name": call.function.name or "",
                    "arguments": call.function.arguments or "",
                },
            }
            for i, call in enumerate(calls)
        ]
    usage = getattr(response, "usage", None)
    counts = {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
    }
    counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return Completion(message, choice.finish_reason, counts)
