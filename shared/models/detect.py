"""What the user already has: a running Ollama, cloud keys, OpenAI-compatible servers.

Every probe is a short HTTP request on a short timeout (a closed port on loopback answers at
once), and says why it found nothing, so `models list` and the first-run choice can explain.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from shared.agent.llm import PROVIDER_KEY_ENV
from shared.config import Config

OLLAMA_DEFAULT = "127.0.0.1:11434"
PROBE_TIMEOUT = 0.8  # seconds; a local server answers in milliseconds
OLLAMA_CACHE_SECONDS = 15.0  # the first-run choice asks on every turn; Ollama is asked this often

# The model a cloud key gets when the user named none (litellm names, checked against the
# model map litellm ships). `localgpt models use provider/model` picks another.
CLOUD_DEFAULTS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai": "openai/gpt-4o-mini",
    "gemini": "gemini/gemini-2.5-flash",
    "groq": "groq/openai/gpt-oss-120b",
    "mistral": "mistral/mistral-small-latest",
    "openrouter": "openrouter/openai/gpt-4o-mini",
    "xai": "xai/grok-4.3",
    "deepseek": "deepseek/deepseek-chat",
}
_EMBEDDING_HINTS = ("embed", "bert", "bge", "minilm", "e5-", "gte-")


@dataclass
class OllamaModel:
    name: str  # e.g. llama3.2:latest
    params: str = ""  # Ollama's parameter_size, e.g. 3.2B
    size_bytes: int = 0
    family: str = ""
    modified_at: str = ""
    chat: bool = True  # False for embedding models

    @property
    def model(self) -> str:
        return f"ollama_chat/{self.name}"

    def as_dict(self) -> dict:
        return asdict(self) | {"model": self.model}


@dataclass
class OllamaStatus:
    base: str
    running: bool
    models: list[OllamaModel] = field(default_factory=list)
    error: str = ""

    @property
    def chat_models(self) -> list[OllamaModel]:
        return [m for m in self.models if m.chat]

    def best_chat_model(self) -> OllamaModel | None:
        """The chat model pulled most recently (the one the user last reached for)."""
        chat = self.chat_models
        return max(chat, key=lambda m: _when(m.modified_at)) if chat else None

    def as_dict(self) -> dict:
        return {
            "base": self.base,
            "running": self.running,
            "error": self.error,
            "models": [m.as_dict() for m in self.models],
        }


def ollama_base() -> str:
    """Where Ollama listens: $OLLAMA_HOST as Ollama reads it (host, host:port or a URL), else
    127.0.0.1:11434. A wildcard bind address is reached on loopback."""
    raw = os.environ.get("OLLAMA_HOST", "").strip() or OLLAMA_DEFAULT
    if "://" not in raw:
        raw = "http://" + raw
    parts = urlsplit(raw)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or (443 if parts.scheme == "https" else 11434)
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}:{port}"


_ollama_cache: dict[str, tuple[float, OllamaStatus]] = {}


def probe_ollama(base: str | None = None, cached: bool = False) -> OllamaStatus:
    """Ask Ollama's `GET /api/tags` which models it has."""
    import httpx

    base = base or ollama_base()
    hit = _ollama_cache.get(base)
    if cached and hit and time.monotonic() - hit[0] < OLLAMA_CACHE_SECONDS:
        return hit[1]
    try:
        response = httpx.get(f"{base}/api/tags", timeout=PROBE_TIMEOUT)
        response.raise_for_status()
        listed = response.json().get("models") or []
        status = OllamaStatus(base, True, [_ollama_model(m) for m in listed if isinstance(m, dict)])
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        status = OllamaStatus(base, False, error=_reason(exc))
    _ollama_cache[base] = (time.monotonic(), status)
    return status


def clear_cache() -> None:
    _ollama_cache.clear()


def _ollama_model(data: dict) -> OllamaModel:
    details = data.get("details") if isinstance(data.get("details"), dict) else {}
    name = str(data.get("name") or data.get("model") or "")
    families = " ".join(
        [str(details.get("family") or "")] + [str(f) for f in details.get("families") or []]
    ).lower()
    chat = not any(hint in name.lower() or hint in families for hint in _EMBEDDING_HINTS)
    return OllamaModel(
        name=name,
        params=str(details.get("parameter_size") or ""),
        size_bytes=int(data.get("size") or 0),
        family=str(details.get("family") or ""),
        modified_at=str(data.get("modified_at") or ""),
        chat=chat,
    )


def _when(stamp: str) -> float:
    try:  # Ollama writes nanoseconds, which fromisoformat does not take before Python 3.11
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return 0.0


@dataclass
class CloudKey:
    provider: str
    env: str  # the variable that holds the key (its value is never read out)
    model: str  # the default model for this provider

    def as_dict(self) -> dict:
        return asdict(self)


def cloud_keys() -> list[CloudKey]:
    """Providers whose key variable is set, in PROVIDER_KEY_ENV's order."""
    return [
        CloudKey(provider, env, CLOUD_DEFAULTS.get(provider, ""))
        for provider, env in PROVIDER_KEY_ENV.items()
        if os.environ.get(env, "").strip()
    ]


@dataclass
class ServerStatus:
    """An OpenAI-compatible server named by `[llm] api_base`."""

    base: str
    running: bool
    models: list[str] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def probe_openai_server(config: Config) -> ServerStatus | None:
    """`GET <api_base>/models` on the server in `[llm] api_base`, if one is configured."""
    import httpx

    base = config.llm.api_base.strip().rstrip("/")
    if not base:
        return None
    headers = {}
    key_env = config.llm.api_key_env.strip()
    if key_env and os.environ.get(key_env):
        headers["Authorization"] = f"Bearer {os.environ[key_env]}"
    try:
        response = httpx.get(f"{base}/models", headers=headers, timeout=PROBE_TIMEOUT * 2)
        response.raise_for_status()
        data = response.json().get("data") or []
        ids = [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]
        return ServerStatus(base, True, ids)
    except (httpx.HTTPError, ValueError, AttributeError, KeyError) as exc:
        return ServerStatus(base, False, error=_reason(exc))


def _reason(exc: BaseException) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered HTTP {exc.response.status_code}"
    if isinstance(exc, ValueError | AttributeError | KeyError):
        return "answered something that is not a models list"
    return f"{type(exc).__name__}: {exc}"
