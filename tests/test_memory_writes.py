"""Memory writes: daily logs are append-only, MEMORY.md edits are atomic, guarded and
versioned, and everything the assistant writes carries its provenance marker."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import write

from shared.agent.tools import ToolContext, run_tool
from shared.config import load_config
from shared.memory import writes
from shared.memory.writes import MemoryWriteError, append_daily_entry, update_memory_md
from shared.workspace import OutsideWorkspaceError

NOW = datetime(2026, 11, 23, 8, 15, 0, tzinfo=ZoneInfo("Europe/Paris"))
OPEN = "<!-- localgpt:assistant at=2026-11-23T08:15:00+01:00 -->"
OPEN_20 = "<!-- localgpt:assistant at=2026-11-23T08:20:00+01:00 -->"
CLOSE = "<!-- /localgpt:assistant -->"


def test_append_creates_todays_log_then_only_appends(config, workspace):
    first = append_daily_entry(config, "Booked the dentist.", NOW)
    assert first.path == "memory/2026-11-23.md"
    daily = workspace / "memory" / "2026-11-23.md"
    before = daily.read_bytes()
    append_daily_entry(config, "  Called mum.  ", NOW + timedelta(minutes=5))
    after = daily.read_text()
    assert after.encode().startswith(before)
    assert after == (
        f"# 2026-11-23\n\n{OPEN}\n### 08:15:00 CET\n\nBooked the dentist.\n{CLOSE}\n"
        f"\n{OPEN_20}\n### 08:20:00 CET\n\nCalled mum.\n{CLOSE}\n"
    )


def test_append_keeps_user_text_without_trailing_newline(config, workspace):
    daily = write(workspace / "memory" / "2026-11-23.md", "my own notes, no newline")
    append_daily_entry(config, "entry", NOW)
    assert daily.read_text() == (
        f"my own notes, no newline\n\n{OPEN}\n### 08:15:00 CET\n\nentry\n{CLOSE}\n"
    )


def test_append_rejects_empty_and_oversized_entries(config, workspace):
    with pytest.raises(MemoryWriteError, match="empty"):
        append_daily_entry(config, "  \n", NOW)
    with pytest.raises(MemoryWriteError, match="at most 4000"):
        append_daily_entry(config, "x" * 4_001, NOW)
    assert not (workspace / "memory" / "2026-11-23.md").exists()


def test_append_refuses_a_memory_folder_linked_outside(config, workspace, tmp_path):
    (workspace / "memory").rmdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, workspace / "memory")
    with pytest.raises(OutsideWorkspaceError):
        append_daily_entry(config, "escape", NOW)
    assert list(outside.iterdir()) == []


def _append_many(home: str, worker: int) -> None:
    os.environ["LOCALGPT_HOME"] = home
    config = load_config()
    for i in range(25):
        append_daily_entry(config, f"worker {worker} entry {i}", NOW)


def test_concurrent_appends_from_processes_lose_nothing(config, workspace):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(config.home), w)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    text = (workspace / "memory" / "2026-11-23.md").read_text()
    for worker in range(4):
        for i in range(25):
            assert text.count(f"\nworker {worker} entry {i}\n") == 1
    assert text.count("### 08:15:00 CET") == 100
    assert text.startswith("# 2026-11-23\n\n")


def test_update_replaces_a_unique_passage_and_keeps_every_version(config, workspace):
    original = "# Memory\n\n- Lives in Lyon.\n- Likes tea.\n"
    write(workspace / "MEMORY.md", original)
    result = update_memory_md(config, "Lives in Lyon.", "Lives in Porto (moved 2026).", NOW)
    # a change inside the user's line marks that line as the assistant's, at its end
    assert (workspace / "MEMORY.md").read_text() == original.replace(
        "Lives in Lyon.", "Lives in Porto (moved 2026). <!-- localgpt:assistant -->"
    )
    versions = list((config.versions_dir / "MEMORY.md").iterdir())
    assert [b.read_text() for b in versions] == [original]
    assert result.version == versions[0].relative_to(config.home).as_posix()  # no machine path
    assert not str(config.versions_dir).startswith(str(workspace))
    update_memory_md(config, "Likes tea.", "Likes coffee.", NOW)
    assert len(list((config.versions_dir / "MEMORY.md").iterdir())) == 2, "one per edit"


def test_update_refuses_missing_or_ambiguous_passages_and_changes_nothing(config, workspace):
    original = "- tea\n- tea\n"
    write(workspace / "MEMORY.md", original)
    with pytest.raises(MemoryWriteError, match="occurs 2 times"):
        update_memory_md(config, "tea", "coffee", NOW)
    with pytest.raises(MemoryWriteError, match="not found"):
        update_memory_md(config, "water", "coffee", NOW)
    assert (workspace / "MEMORY.md").read_text() == original
    assert not (config.versions_dir / "MEMORY.md").exists()


def test_update_with_empty_old_appends(config, workspace):
    write(workspace / "MEMORY.md", "# Memory\n- one")
    update_memory_md(config, "", "- two\n", NOW)
    assert (workspace / "MEMORY.md").read_text() == f"# Memory\n- one\n\n{OPEN}\n- two\n{CLOSE}\n"


def test_a_failed_write_leaves_the_old_file_and_no_temp_files(config, workspace, monkeypatch):
    original = "# Memory\n- keep me\n"
    write(workspace / "MEMORY.md", original)

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(writes.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        update_memory_md(config, "keep me", "changed", NOW)
    monkeypatch.undo()
    assert (workspace / "MEMORY.md").read_text() == original
    leftovers = [p.name for p in workspace.iterdir() if p.name.startswith(".MEMORY.md.")]
    assert leftovers == []


def test_memory_update_tool_reports_errors_to_the_model(config, workspace):
    write(workspace / "MEMORY.md", "- a\n")
    ctx = ToolContext(config, clock=lambda: NOW)
    outcome = run_tool(ctx, "memory_update", {"old": "zzz", "new": "b"}, ("memory_update",))
    assert not outcome.ok and "not found" in outcome.result["error"]
    outcome = run_tool(ctx, "memory_update", {"old": "- a", "new": "- b"}, ("memory_update",))
    assert outcome.ok and (workspace / "MEMORY.md").read_text() == f"{OPEN}\n- b\n{CLOSE}\n"
