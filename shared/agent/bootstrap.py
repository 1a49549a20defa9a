"""The OpenClaw bootstrap files: which workspace files reach the prompt, truncated how.

Matches OpenClaw (openclaw-compat §1.3/§1.5): files load in `LOAD_ORDER` against a total budget
(so a later file loses budget first), each is cut to 70% head + 20% tail with OpenClaw's marker
when over the per-file cap, missing files say `[MISSING] Expected at: <path>`, and the section
renders in `RENDER_ORDER`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.memory.provenance import label_for_model
from shared.workspace import OutsideWorkspaceError, resolve_in_workspace

LOAD_ORDER = (
    "AGENTS.md",
    "SOUL.md",
    "TOOLS.md",
    "IDENTITY.md",
    "USER.md",
    "HEARTBEAT.md",
    "BOOTSTRAP.md",
    "MEMORY.md",
)
RENDER_ORDER = {
    "agents.md": 10,
    "soul.md": 20,
    "identity.md": 30,
    "user.md": 40,
    "tools.md": 50,
    "bootstrap.md": 60,
    "memory.md": 70,
}
# Absent rather than missing: MEMORY.md is optional, BOOTSTRAP.md is deleted once setup is done.
OPTIONAL_FILES = frozenset({"MEMORY.md", "BOOTSTRAP.md"})
MAX_FILE_BYTES = 2 * 1024 * 1024  # OpenClaw's MAX_WORKSPACE_BOOTSTRAP_FILE_BYTES
MIN_REMAINING = 64
SOUL_LINE = (
    "If SOUL.md is present, embody its persona and tone. Avoid stiff, generic replies; "
    "follow its guidance unless higher-priority instructions override it."
)


@dataclass
class BootstrapFile:
    name: str
    path: Path
    content: str  # as injected (possibly truncated, or the [MISSING] line)
    missing: bool = False
    truncated: bool = False
    original_chars: int = 0


def load_bootstrap_files(
    workspace: Path,
    max_chars: int,
    total_max_chars: int,
    include_heartbeat: bool = False,
) -> list[BootstrapFile]:
    """Read and budget the bootstrap files in OpenClaw's load order."""
    remaining = total_max_chars
    out: list[BootstrapFile] = []
    for name in LOAD_ORDER:
        if name == "HEARTBEAT.md" and not include_heartbeat:
            continue
        path, text = _read(workspace, name)
        if text is None and name == "MEMORY.md":
            path, text = _read(workspace, "memory.md")
        if text is None and name in OPTIONAL_FILES:
            continue
        if remaining <= 0:
            break
        if text is None:
            line = f"[MISSING] Expected at: {name}"  # workspace-relative: no machine path
            line = _clamp(line, remaining)
            out.append(BootstrapFile(name, path, line, missing=True))
            remaining -= len(line)
            continue
        if remaining < MIN_REMAINING:
            break
        injected, truncated = trim_content(text, path.name, min(max_chars, remaining))
        injected = _clamp(injected, remaining)
        out.append(BootstrapFile(path.name, path, injected, False, truncated, len(text.rstrip())))
        remaining -= len(injected)
    return out


def trim_content(text: str, name: str, file_max: int) -> tuple[str, bool]:
    """OpenClaw's trimBootstrapContent: keep the head 70% and tail 20% with a marker between."""
    content = text.rstrip()
    if len(content) <= file_max:
        return content, False
    head_chars = int(file_max * 0.7)
    tail_chars = int(file_max * 0.2)
    marker = (
        f"\n[...truncated, read {name} for full content...]\n"
        f"…(truncated {name}: kept {head_chars}+{tail_chars} chars of {len(content)})…\n"
    )
    tail = content[len(content) - tail_chars :] if tail_chars else ""
    return "\n".join([content[:head_chars], marker, tail]), True


def render_project_context(files: list[BootstrapFile]) -> str:
    """The `# Project Context` section, files sorted by OpenClaw's render order."""
    if not files:
        return ""
    ordered = sorted(
        files, key=lambda f: (RENDER_ORDER.get(f.name.lower(), 1000), f.name.lower(), str(f.path))
    )
    lines = ["# Project Context", "", "The following project context files have been loaded:"]
    if any(f.name.lower() == "soul.md" and not f.missing for f in files):
        lines.append(SOUL_LINE)
    lines.append("")
    for item in ordered:
        lines += [f"## {item.path.name}", "", item.content, ""]  # relative: no machine path
    return "\n".join(lines).rstrip() + "\n"


def _read(workspace: Path, name: str) -> tuple[Path, str | None]:
    """The file's text, or None when it is missing, unreadable or escapes the workspace."""
    path = workspace / name
    try:
        real = resolve_in_workspace(workspace, name)
        if not real.is_file():
            return path, None
        with open(real, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OutsideWorkspaceError, OSError):
        return path, None
    if len(data) > MAX_FILE_BYTES:
        data = data[:MAX_FILE_BYTES]
    # What the assistant wrote into the file is labelled as such (shared.memory.provenance).
    return path, label_for_model(data.decode("utf-8", errors="replace"))


def _clamp(text: str, remaining: int) -> str:
    if len(text) <= remaining:
        return text
    return text[: max(0, remaining - 1)] + "…"
