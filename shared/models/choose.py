"""Which model answers, and why.

The user's choice wins: `[llm] model` in config.toml, or $LOCALGPT_LLM_MODEL. Without one,
LocalGPT takes the best model available now, in this order:
1. a running Ollama with a chat model (the one pulled most recently);
2. a cloud provider whose key is in the environment (PROVIDER_KEY_ENV's order);
3. a GGUF pulled with `localgpt models pull` (or set as `[local_llm] model_path`), served by
   `localgpt run llm`;
4. the embedded SmolLM2-135M, which is tiny: every surface says so, with the command that gets
   a better one.
The choice is made again as things change (Ollama is asked at most every 15 s), so starting
Ollama or pulling a model needs no config edit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from shared.config import Config, LLMConfig
from shared.models.catalogue import RECOMMENDED
from shared.models.local import EMBEDDED_MODEL, LOCAL_PREFIX, configured_file, served_name

TINY_WARNING = (
    "answers come from the tiny offline model (SmolLM2-135M): expect short, often wrong answers. "
    f"For a better one: `localgpt models pull {RECOMMENDED.id}` "
    f"({RECOMMENDED.size_bytes / 1e9:.1f} GB), or start Ollama, or set a cloud key "
    "(`localgpt models list` shows what is here)"
)


@dataclass(frozen=True)
class Choice:
    model: str  # litellm provider/model
    api_base: str  # "" for the provider's default (or the embedded server for local/)
    source: str  # config | env | ollama | cloud | local | embedded
    reason: str  # one line: why this model

    @property
    def tiny(self) -> bool:
        return is_tiny(self.model)

    @property
    def warning(self) -> str:
        return TINY_WARNING if self.tiny else ""

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "api_base": self.api_base,
            "source": self.source,
            "reason": self.reason,
            "tiny": self.tiny,
            "warning": self.warning,
        }

    def applied(self, config: Config) -> Config:
        """`config` with this choice as its `[llm] model` (the same object when user-chosen)."""
        if self.source in ("config", "env"):
            return config
        llm = dataclasses.replace(config.llm, model=self.model, api_base=self.api_base)
        return dataclasses.replace(config, llm=llm)


def is_tiny(model: str) -> bool:
    return model.strip() == EMBEDDED_MODEL


def user_choice(config: Config) -> Choice | None:
    """The model the user set, if any: read from config.toml or the environment, or set on the
    Config by code (any value but the built-in default counts as chosen)."""
    source = config.sources.get("llm.model")
    model = config.llm.model.strip()
    if not model or (not source and model == LLMConfig.model):
        return None
    if not source:
        return Choice(model, config.llm.api_base, "config", "set in the configuration")
    if source.startswith("$"):
        return Choice(model, config.llm.api_base, "env", f"set by {source}")
    return Choice(model, config.llm.api_base, "config", "set by [llm] model in config.toml")


def current_choice(config: Config) -> Choice:
    """The model that answers: the user's, else the best available (see the module doc)."""
    return user_choice(config) or best_available(config)


def best_available(config: Config) -> Choice:
    from shared.models.detect import cloud_keys, probe_ollama
    from shared.models.local import pulled_models

    ollama = probe_ollama(cached=True)
    best = ollama.best_chat_model()
    if best is not None:
        others = len(ollama.chat_models) - 1
        more = f" (the newest of {others + 1} chat models)" if others else ""
        return Choice(
            best.model,
            ollama.base,
            "ollama",
            f"Ollama is running at {ollama.base} with {best.name}{more}",
        )
    keys = [k for k in cloud_keys() if k.model]
    if keys:
        key = keys[0]
        return Choice(key.model, "", "cloud", f"${key.env} is set in the environment")
    path = configured_file(config)
    if path is not None and path.is_file():
        return Choice(
            f"{LOCAL_PREFIX}{served_name(path)}",
            "",
            "local",
            f"[local_llm] model_path is {path.name}, served by `localgpt run llm`",
        )
    pulled = pulled_models(config)
    if pulled:
        how = "pulled" if pulled[0].kind == "pulled" else "found"
        return Choice(
            pulled[0].model,
            "",
            "local",
            f"{pulled[0].path.name} was {how} in {pulled[0].path.parent}, "
            "served by `localgpt run llm`",
        )
    if ollama.running:
        missing = f"Ollama at {ollama.base} has no chat model"
    else:
        missing = f"no Ollama at {ollama.base} ({ollama.error})"
    return Choice(
        EMBEDDED_MODEL,
        "",
        "embedded",
        f"nothing better found: {missing}, no cloud key set, no model pulled",
    )
