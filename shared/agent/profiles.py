"""Prompt profiles: how much prompt a model gets, chosen from what the model can do.

`full`: OpenClaw's bootstrap (AGENTS.md, SOUL.md, ... MEMORY.md), the tools and the recalled
notes; for models that follow long instructions (Anthropic, OpenAI, large local models).
`compact`: a few lines of persona, the recalled notes numbered with their dates and citations,
the question, and a plain answer format; for small local models, which recite a long prompt
instead of answering it, and for which every prompt token delays the first answer token.

`[llm] profile` picks one, or `auto` (the default) chooses from the model's provider and size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FULL = "full"
COMPACT = "compact"
AUTO = "auto"
PROFILES = (AUTO, FULL, COMPACT)

SMALL_MODEL_BILLIONS = 4.0  # at or below this many parameters a model gets the compact prompt
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*([bm])(?![a-z])", re.IGNORECASE)


class ProfileError(ValueError):
    """`[llm] profile` names no profile."""


@dataclass(frozen=True)
class ProfileChoice:
    name: str  # full | compact
    reason: str  # one line for `localgpt status` and the page

    def as_dict(self) -> dict:
        return {"name": self.name, "reason": self.reason}


def model_size_billions(model: str) -> float | None:
    """Parameters in billions read off a model name (`llama3.2:1b`, `qwen2.5-0.5b`, `135m`)."""
    name = model.split("/", 1)[-1]
    sizes = [
        float(number) / (1000 if unit.lower() == "m" else 1) for number, unit in _SIZE.findall(name)
    ]
    return max(sizes) if sizes else None


def choose_profile(setting: str, model: str, provider: str) -> ProfileChoice:
    """The profile for `model` (litellm `provider/model`) under `[llm] profile = setting`."""
    setting = (setting or AUTO).strip().lower()
    if setting not in PROFILES:
        raise ProfileError(f"[llm] profile must be one of {', '.join(PROFILES)}, not {setting!r}")
    if setting != AUTO:
        return ProfileChoice(setting, "set by [llm] profile")
    size = model_size_billions(model)
    if provider == "local":
        shown = f"{size:g}B" if size is not None and size >= 1 else "small"
        return ProfileChoice(COMPACT, f"the embedded model is {shown}: compact grounded prompt")
    if size is not None and size <= SMALL_MODEL_BILLIONS:
        return ProfileChoice(COMPACT, f"{size:g}B parameters: compact grounded prompt")
    if size is not None:
        return ProfileChoice(FULL, f"{size:g}B parameters: full prompt with tools")
    return ProfileChoice(FULL, f"{provider} model: full prompt with tools")
