"""Workspace skills (`skills/<name>/SKILL.md`): discovery, front matter, and the prompt list.

The model sees only each skill's name, description and location (OpenClaw §4.4) and loads a
body on demand with the `read_skill` tool, so many skills cost little context.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from pathlib import Path

import yaml

from shared.logs import get_logger
from shared.workspace import shown_path

log = get_logger(__name__)

SKILL_ROOTS = ("skills", ".agents/skills")  # highest precedence first
MAX_SKILL_FILE_BYTES = 256_000
MAX_CANDIDATES_PER_ROOT = 300
MAX_SKILLS_IN_PROMPT = 150
MAX_SKILLS_PROMPT_CHARS = 30_000


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    path: Path  # the SKILL.md file
    shown: str = ""  # the SKILL.md path as a model sees it: workspace-relative

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def base_dir_shown(self) -> str:
        return self.shown.rsplit("/", 1)[0] if "/" in self.shown else "."


def discover_skills(workspace: Path) -> list[Skill]:
    """Eligible skills by name; a workspace skill wins over a `.agents/skills` one."""
    found: dict[str, Skill] = {}
    for root_name in SKILL_ROOTS:
        root = workspace / root_name
        if not root.is_dir():
            continue
        for skill in _scan_root(root.resolve()):
            shown = shown_path(workspace, skill.path)
            found.setdefault(skill.name, dataclasses.replace(skill, shown=shown))
    return sorted(found.values(), key=lambda s: s.name)


def find_skill(workspace: Path, name: str) -> Skill | None:
    wanted = name.strip()
    return next((s for s in discover_skills(workspace) if s.name == wanted), None)


def read_skill_body(skill: Skill) -> str:
    """The SKILL.md text with `{baseDir}` resolved to the skill's folder."""
    text = skill.path.read_text(encoding="utf-8", errors="replace")
    return text.replace("{baseDir}", skill.base_dir_shown)


def render_skills_section(skills: list[Skill]) -> str:
    """OpenClaw's `## Skills (mandatory)` block, compacted or cut to fit the prompt budget."""
    if not skills:
        return ""
    chosen = skills[:MAX_SKILLS_IN_PROMPT]
    text = _render(chosen, compact=False)
    if len(text) <= MAX_SKILLS_PROMPT_CHARS:
        return text
    while chosen:
        text = _render(chosen, compact=True)
        if len(text) <= MAX_SKILLS_PROMPT_CHARS:
            return text
        chosen = chosen[:-1]
    return ""


def _render(skills: list[Skill], compact: bool) -> str:
    match = "name" if compact else "description"
    lines = [
        "## Skills (mandatory)",
        f"Before replying: scan <available_skills> <{match}> entries.",
        "- If exactly one skill clearly applies: load it with the `read_skill` tool, then follow "
        "it within the user's request.",
        "- If multiple could apply: choose the most specific one, then load and follow it.",
        "- If none clearly apply: do not load any skill.",
        "Constraints: never load more than one skill up front; only load after selecting.",
        "",
        "<available_skills>",
    ]
    for skill in skills:
        lines.append("  <skill>")
        lines.append(f"    <name>{_xml(skill.name)}</name>")
        if not compact:
            lines.append(f"    <description>{_xml(skill.description)}</description>")
        lines.append(f"    <location>{_xml(skill.shown)}</location>")
        lines.append("  </skill>")
    lines.append("</available_skills>")
    return "\n".join(lines) + "\n"


def _scan_root(root: Path) -> list[Skill]:
    skills: list[Skill] = []
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    for directory in entries[:MAX_CANDIDATES_PER_ROOT]:
        if directory.name == "node_modules" or not directory.is_dir():
            continue
        skill = _load_skill(root, directory)
        if skill is not None:
            skills.append(skill)
    return skills


def _load_skill(root: Path, directory: Path) -> Skill | None:
    path = directory / "SKILL.md"
    try:
        real = path.resolve(strict=True)
    except OSError:
        return None
    if root not in real.parents or not real.is_file():
        log.warning("skill_rejected", path=str(path), reason="resolves outside its skills folder")
        return None
    if real.stat().st_size > MAX_SKILL_FILE_BYTES:
        log.warning("skill_rejected", path=str(path), reason="larger than 256 kB")
        return None
    meta = parse_front_matter(real.read_text(encoding="utf-8", errors="replace"))
    if meta is None:
        log.warning("skill_rejected", path=str(path), reason="front matter is not valid YAML")
        return None
    description = str(meta.get("description") or "").strip()
    if not description or meta.get("disable-model-invocation") is True:
        return None
    name = str(meta.get("name") or directory.name).strip()
    return Skill(name=name, description=" ".join(description.split()), path=real)


def parse_front_matter(text: str) -> dict | None:
    """The YAML mapping between leading `---` lines; {} when there is none, None when invalid."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        return None
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else ({} if data is None else None)


def _xml(value: str) -> str:
    return html.escape(value, quote=True)
