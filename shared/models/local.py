"""GGUF models on this machine: the embedded one, pulled ones, and the one `run llm` serves.

`$LOCALGPT_HOME/models/` holds three kinds of file:
- pulled models: `<file>.gguf` with a `<file>.gguf.json` manifest beside it (where it came from,
  its sha256 and licence), written by `localgpt models pull` once the checksum matched;
- GGUF files the user put there by hand (no manifest): usable, listed as unverified;
- our own caches: fast re-encoded copies made by the model server (services/llm/model.py,
  `<stem>.Q8_0.<12 hex>.gguf`). They are not models of their own and are never listed as such.
Unfinished downloads wait in `models/.partial/` until `pull` resumes them.

A local model is served under its file's name, lowercased (`local/qwen2.5-1.5b-instruct-q4_k_m`);
the embedded SmolLM2 keeps its historical name `local/smollm2-135m-instruct`.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.config import LOCAL_LLM_MODEL, Config, ConfigError, load_config

LOCAL_PREFIX = "local/"
EMBEDDED_NAME = LOCAL_LLM_MODEL
EMBEDDED_MODEL = f"{LOCAL_PREFIX}{EMBEDDED_NAME}"
EMBEDDED_BILLIONS = 0.135
MANIFEST_SUFFIX = ".json"
PARTIAL_DIR = ".partial"


class LocalModelError(Exception):
    """The local model asked for cannot be found; the message says what to do."""


@dataclass
class LocalModel:
    name: str  # served name, e.g. qwen2.5-1.5b-instruct-q4_k_m
    path: Path
    kind: str  # embedded | pulled | file
    size_bytes: int
    repo: str = ""
    file: str = ""
    sha256: str = ""
    licence: str = ""
    catalogue_id: str = ""
    pulled_at: float = 0.0

    @property
    def model(self) -> str:
        return f"{LOCAL_PREFIX}{self.name}"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["model"] = self.model
        return data


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def served_name(path: Path) -> str:
    """The name a GGUF file is served under: its stem, lowercased (the embedded one keeps its
    name, also when serving its re-encoded copy)."""
    from services.llm.model import GGUF_NAME

    if path.name == GGUF_NAME or path.name.startswith(Path(GGUF_NAME).stem + "."):
        return EMBEDDED_NAME
    stem = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-") or "local-model"


def embedded_model() -> LocalModel | None:
    from services.llm.model import packaged_gguf

    path = packaged_gguf()
    if path is None:
        return None
    return LocalModel(EMBEDDED_NAME, path, "embedded", path.stat().st_size, licence="apache-2.0")


def pulled_models(config: Config) -> list[LocalModel]:
    """GGUF files in the models folder, newest first (never our re-encoded caches)."""
    from services.llm.model import is_reencoded_copy

    folder = config.models_dir
    found: list[LocalModel] = []
    for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
        if not path.is_file():
            continue
        meta = read_manifest(path)
        if meta is None and is_reencoded_copy(path):
            continue
        model = LocalModel(served_name(path), path, "file", path.stat().st_size)
        if meta is not None:
            model.kind = "pulled"
            for key in ("repo", "file", "sha256", "licence", "catalogue_id"):
                setattr(model, key, str(meta.get(key) or ""))
            model.pulled_at = float(meta.get("pulled_at") or 0)
        found.append(model)
    found.sort(key=lambda m: m.pulled_at or m.path.stat().st_mtime, reverse=True)
    return found


def reencoded_caches(config: Config) -> list[Path]:
    from services.llm.model import is_reencoded_copy

    folder = config.models_dir
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob("*.gguf") if is_reencoded_copy(p) and read_manifest(p) is None
    )


def partial_downloads(config: Config) -> list[Path]:
    folder = config.models_dir / PARTIAL_DIR
    return sorted(folder.glob("*.part")) if folder.is_dir() else []


def read_manifest(path: Path) -> dict | None:
    try:
        data = json.loads(manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(path: Path, data: dict) -> None:
    target = manifest_path(path)
    temp = target.with_name(target.name + f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temp, target)


def find_local(config: Config, name: str) -> LocalModel | None:
    """A local model by served name, `local/` name, file name, or catalogue id."""
    wanted = name.strip()
    wanted = wanted[len(LOCAL_PREFIX) :] if wanted.startswith(LOCAL_PREFIX) else wanted
    lowered = wanted.lower()
    if lowered in (EMBEDDED_NAME, "embedded", "smollm2-135m"):
        return embedded_model()
    for model in pulled_models(config):
        if lowered in (model.name, model.path.name.lower(), model.catalogue_id.lower()):
            return model
        if model.repo and lowered == f"{model.repo}/{model.file}".lower():
            return model
    return None


def configured_file(config: Config) -> Path | None:
    """`[local_llm] model_path`, when set."""
    raw = config.local_llm.model_path.strip()
    return Path(raw).expanduser() if raw else None


def served_file(config: Config, chosen_model: str | None) -> Path:
    """The GGUF `localgpt run llm` serves: `[local_llm] model_path`; else the local model that
    `chosen_model` (the [llm] model in force, `local/<name>`) names; else the newest pulled
    model; else the embedded one. Raises LocalModelError when a named one is missing."""
    from services.llm.model import INSTALL_HINT, ModelUnavailable, find_gguf

    path = configured_file(config)
    if path is not None:
        if not path.is_file():
            raise LocalModelError(f"[local_llm] model_path {path} is not a file")
        return path
    if chosen_model and chosen_model.startswith(LOCAL_PREFIX) and chosen_model != EMBEDDED_MODEL:
        model = find_local(config, chosen_model)
        if model is None:
            raise LocalModelError(
                f"no local model is called {chosen_model[len(LOCAL_PREFIX) :]!r}: "
                "`localgpt models list` shows them, `localgpt models pull NAME` gets one"
            )
        return model.path
    pulled = pulled_models(config)
    if pulled and chosen_model != EMBEDDED_MODEL:
        return pulled[0].path
    try:
        return find_gguf(config.local_llm)
    except ModelUnavailable as exc:
        raise LocalModelError(f"{exc} ({INSTALL_HINT})") from None


# --- parameter counts, for the prompt profile -------------------------------------------------

_params_cache: dict[tuple[str, int, int], float | None] = {}
_SIZE_LABEL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_UNITS = {"k": 1e-6, "m": 1e-3, "b": 1.0, "t": 1e3}


def gguf_params_billions(path: Path) -> float | None:
    """Parameters in billions: the GGUF's `general.size_label`, else its tensors counted."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _params_cache:
        _params_cache[key] = _read_params(path)
    return _params_cache[key]


def _read_params(path: Path) -> float | None:
    try:
        from gguf import GGUFReader

        reader = GGUFReader(path)
    except Exception:  # not a GGUF, truncated, or gguf missing: size unknown
        return None
    field = reader.fields.get("general.size_label")
    if field is not None:
        try:
            match = _SIZE_LABEL.match(str(field.contents()))
        except Exception:
            match = None
        if match:
            return float(match.group(1)) * _UNITS[match.group(2).lower()]
    total = 0
    for tensor in reader.tensors:
        count = 1
        for dim in tensor.shape:
            count *= int(dim)
        total += count
    return total / 1e9 if total else None


_served_cache: dict[str, tuple[float, float | None]] = {}


def params_for_served_name(name: str, config: Config | None = None) -> float | None:
    """Parameters in billions of the local model served as `name` (`local/...` or bare), read
    from its GGUF; None when no such file is here."""
    bare = name[len(LOCAL_PREFIX) :] if name.startswith(LOCAL_PREFIX) else name
    if bare == EMBEDDED_NAME:
        return EMBEDDED_BILLIONS
    try:
        config = config or load_config()
    except ConfigError:
        return None
    key = f"{config.home}\0{config.local_llm.model_path}\0{bare}"
    cached = _served_cache.get(key)
    if cached and time.monotonic() - cached[0] < 30:
        return cached[1]
    path = configured_file(config)
    if path is None or served_name(path) != bare:
        model = find_local(config, bare)
        path = model.path if model else None
    value = gguf_params_billions(path) if path is not None else None
    _served_cache[key] = (time.monotonic(), value)
    return value
