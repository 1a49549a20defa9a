"""Whatever a workspace holds, reindex finishes, says what it skipped and keeps the DB whole."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import run_cli, write

from shared.memory import files as files_module
from shared.memory import index as index_module


def indexed_paths(memory) -> dict[str, str]:
    return {p: s for p, s in memory.conn.execute("SELECT path, status FROM files")}


def assert_db_consistent(memory) -> None:
    conn = memory.conn
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] == chunks
    assert conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0] == chunks


def test_binary_file_named_md_is_skipped_with_reason(memory, workspace):
    (workspace / "photo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(workspace / "memory" / "ok.md", "# Fine\n\nzebra crossing")
    report = memory.sync()
    assert "binary" in report.skipped["photo.md"]
    assert indexed_paths(memory)["photo.md"] == "skipped"
    assert memory.search("zebra").results[0].path == "memory/ok.md"
    assert "binary" in memory.stats()["files_skipped"]["photo.md"]
    assert_db_consistent(memory)
    assert memory.sync().files_skipped == 0, "an unchanged skipped file is not re-read"


def test_invalid_utf8_is_indexed_with_replacement(memory, workspace):
    (workspace / "memory" / "latin1.md").write_bytes(
        "# Café notes\n\nThe crème brûlée recipe.\n".encode("latin-1")
    )
    report = memory.sync()
    assert report.skipped == {}
    results = memory.search("recipe").results
    assert results[0].path == "memory/latin1.md"
    assert "\ufffd" in results[0].snippet
    assert_db_consistent(memory)


def test_huge_file_is_skipped_and_the_rest_indexed(memory, workspace):
    big = workspace / "knowledge" / "dump.md"
    with open(big, "wb") as handle:
        line = b"- a very repetitive line of notes about llamas\n"
        handle.write(line * (50_000_000 // len(line) + 1))
    write(workspace / "memory" / "small.md", "# Small\n\nalpaca wool")
    report = memory.sync()
    assert report.skipped["knowledge/dump.md"].startswith("too large: 50.0 MB")
    assert memory.search("alpaca").results[0].path == "memory/small.md"
    assert_db_consistent(memory)


def test_empty_and_whitespace_files_are_indexed_without_chunks(memory, workspace):
    write(workspace / "memory" / "empty.md", "")
    write(workspace / "memory" / "blank.md", "\n\n   \n")
    report = memory.sync()
    assert report.skipped == {}
    status = indexed_paths(memory)
    assert status["memory/empty.md"] == status["memory/blank.md"] == "indexed"
    assert memory.stats()["files_pending"] == 0


def test_special_files_and_links_never_hang_or_escape(memory, workspace, tmp_path):
    outside = write(tmp_path / "outside" / "secret.md", "# Secret\n\nplatypus outside")
    os.mkfifo(workspace / "pipe.md")  # reading it would block forever
    (workspace / "folder.md").mkdir()
    write(workspace / "folder.md" / "inner.md", "# Inner\n\nwombat inside")
    (workspace / "dangling.md").symlink_to(workspace / "nowhere.md")
    (workspace / "escape.md").symlink_to(outside)
    (workspace / "escape-dir").symlink_to(outside.parent, target_is_directory=True)
    (workspace / "memory" / "loop").symlink_to(workspace / "memory", target_is_directory=True)
    write(workspace / "memory" / "real.md", "# Real\n\nkoala facts")
    (workspace / "alias.md").symlink_to(workspace / "memory" / "real.md")

    report = memory.sync()
    status = indexed_paths(memory)
    assert "folder.md/inner.md" in status
    for absent in ("pipe.md", "dangling.md", "escape.md", "escape-dir/secret.md", "alias.md"):
        assert absent not in status, absent
    assert not [p for p in status if p.startswith("memory/loop/")]
    assert memory.search("platypus").results == []
    assert [r.path for r in memory.search("koala").results] == ["memory/real.md"]
    assert report.files_skipped == 0
    assert_db_consistent(memory)


def test_unreadable_file_is_reported_and_retried(config, workspace, memory):
    secret = write(workspace / "memory" / "locked.md", "# Locked\n\nnarwhal tusk")
    write(workspace / "memory" / "open.md", "# Open\n\nbeluga song")
    secret.chmod(0)
    # Root reads anything; drop the capabilities that allow it so the denial is real.
    prefix = (
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
        if os.geteuid() == 0
        else []
    )
    if prefix and not shutil.which("setpriv"):
        pytest.fail("running as root needs setpriv (util-linux) to test unreadable files")
    import subprocess
    import sys

    done = subprocess.run(
        [*prefix, sys.executable, "-m", "shared.cli", "memory", "reindex"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "skipped memory/locked.md: unreadable" in done.stderr
    assert indexed_paths(memory)["memory/locked.md"] == "error"
    assert memory.search("beluga").results[0].path == "memory/open.md"
    assert "memory/locked.md" in memory.stats()["pending"], "errors are retried"
    secret.chmod(0o644)
    memory.sync()
    assert memory.search("narwhal").results[0].path == "memory/locked.md"
    assert_db_consistent(memory)


def test_file_changing_during_indexing_ends_with_the_new_text(memory, workspace, monkeypatch):
    note = write(workspace / "memory" / "busy.md", "# Busy\n\nfirst draft about otters")
    real_read = files_module.read_markdown
    writes = []

    def read_then_editor_saves(path, max_bytes):
        result = real_read(path, max_bytes)
        if path.name == "busy.md" and not writes:  # an editor saves right after our read
            writes.append(1)
            note.write_text(
                "# Busy\n\nfinal version about beavers and their dams", encoding="utf-8"
            )
        return result

    monkeypatch.setattr(index_module, "read_markdown", read_then_editor_saves)
    memory.sync()
    assert writes
    assert memory.search("beavers dams").results[0].path == "memory/busy.md"
    assert not any(r.path == "memory/busy.md" for r in memory.search("otters draft").results)
    assert memory.stats()["files_pending"] == 0
    assert_db_consistent(memory)


def test_cli_reindex_survives_a_hostile_workspace(home, workspace):
    (workspace / "bin.md").write_bytes(b"\x00\x01\x02" * 1000)
    (workspace / "bad-utf8.md").write_bytes(b"# ok\n\n\xff\xfe broken \xc3\x28 bytes\n")
    write(workspace / "fine.md", "# Fine\n\nheron")
    done = run_cli("memory", "reindex")
    assert done.returncode == 0, done.stderr
    assert "skipped bin.md: binary" in done.stderr
    stats = json.loads(run_cli("memory", "stats", "--json").stdout)
    assert stats["files_pending"] == 0 and "bin.md" in stats["files_skipped"]
