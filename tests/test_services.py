"""The indexer and worker as real processes: the index converges to what is on disk."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

import pytest
from conftest import MODEL_INT8, write
from processes import kill9, log_text, service_env, start_service, stop_service, wait_for

from shared.config import Config
from shared.memory import Memory
from shared.queue import Queue
from shared.workspace import init_home

pytestmark = pytest.mark.slow

FAST_RETRIES = "[queue]\nretry_base_seconds = 0.2\nmax_attempts = 3\n"


def make_home(root: Path) -> Config:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(FAST_RETRIES)
    config = Config(home=home)
    config.embedding.model_path = str(MODEL_INT8)
    config.queue.retry_base_seconds, config.queue.max_attempts = 0.2, 3
    init_home(config)
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory, xprocess, embedder):
    """An indexer and a worker running against one home."""
    config = make_home(tmp_path_factory.mktemp("stack"))
    env = service_env(config.home, MODEL_INT8)
    start_service(xprocess, "lg-worker", ["run", "worker"], env, "worker_ready")
    start_service(xprocess, "lg-indexer", ["run", "indexer"], env, "indexer_ready")
    memory = Memory(config, embedder)
    yield config, memory, Queue(config), env
    memory.close()
    for name in ("lg-indexer", "lg-worker", "lg-worker-2"):
        stop_service(xprocess, name)


def converged(memory: Memory, queue: Queue) -> bool:
    """Nothing differs between disk and index, and no job is waiting or running."""
    changed, removed = memory.index.diff()
    counts = queue.ledger.counts()
    return not (changed or removed or counts.get("queued") or counts.get("running"))


def assert_index_matches_disk(memory: Memory, workspace: Path) -> None:
    on_disk = {
        p.relative_to(workspace).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in workspace.rglob("*.md")
        if p.is_file()
    }
    indexed = dict(memory.conn.execute("SELECT path, hash FROM files"))
    assert indexed == on_disk
    dup = memory.conn.execute(
        "SELECT path, start_line, count(*) FROM chunks GROUP BY path, start_line, text"
        " HAVING count(*) > 1"
    ).fetchall()
    assert dup == []
    chunks = memory.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert memory.conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0] == chunks


def paths_for(memory: Memory, query: str) -> set[str]:
    return {r.path for r in memory.search(query, 10).results}


def test_an_edit_becomes_searchable(stack):
    config, memory, queue, _ = stack
    note = write(config.workspace_dir / "memory" / "2026-11-23.md", "# Today\n\nfed the cat")
    wait_for(lambda: "memory/2026-11-23.md" in paths_for(memory, "cat"), 20, "the new note")
    note.write_text("# Today\n\nrepaired the harmonium", encoding="utf-8")
    wait_for(lambda: "memory/2026-11-23.md" in paths_for(memory, "harmonium"), 20, "the edit")
    stats = queue.stats()
    assert stats["jobs_failed"] == 0


def test_editor_save_styles_and_folder_moves_converge(stack):
    config, memory, queue, _ = stack
    ws = config.workspace_dir
    write(ws / "knowledge" / "atomic.md", "# A\n\nversion one")
    write(ws / "knowledge" / "vim.md", "# V\n\nversion one")
    write(ws / "knowledge" / "old.md", "# O\n\nto be renamed")
    write(ws / "knowledge" / "doomed.md", "# D\n\nto be deleted")
    wait_for(lambda: converged(memory, queue), 30, "the first files")

    tmp = ws / "knowledge" / ".atomic.md.tmp"  # atomic save: write a temp file, rename over
    tmp.write_text("# A\n\nversion two of the atomic save")
    os.replace(tmp, ws / "knowledge" / "atomic.md")
    temp_md = ws / "knowledge" / "atomic-tmp.md"  # ... with a temp name that is markdown too
    temp_md.write_text("# A\n\nversion three, saved through a .md temp file")
    os.replace(temp_md, ws / "knowledge" / "atomic.md")
    os.rename(ws / "knowledge" / "vim.md", ws / "knowledge" / "vim.md~")  # vim-style save
    write(ws / "knowledge" / "vim.md", "# V\n\nversion two via vim")
    (ws / "knowledge" / "vim.md~").unlink()
    os.rename(ws / "knowledge" / "old.md", ws / "knowledge" / "new.md")
    (ws / "knowledge" / "doomed.md").unlink()
    fresh = ws / "projects" / "fresh"  # a directory created and filled at once
    fresh.mkdir(parents=True)
    for i in range(20):
        (fresh / f"n{i}.md").write_text(f"# N{i}\n\nnote {i} in a brand new folder")
    shutil.move(str(ws / "projects"), str(ws / "archive"))  # then the whole folder moves

    wait_for(lambda: converged(memory, queue), 60, "convergence after editor saves")
    assert_index_matches_disk(memory, ws)
    assert paths_for(memory, "version three atomic save") >= {"knowledge/atomic.md"}
    assert "knowledge/doomed.md" not in paths_for(memory, "deleted")
    assert not [
        p
        for p in dict(memory.conn.execute("SELECT path, 1 FROM files"))
        if p.startswith("projects/")
    ]


def test_a_burst_of_5000_writes_converges(stack):
    config, memory, queue, _ = stack
    folder = config.workspace_dir / "burst"
    folder.mkdir()
    for version in range(5):
        for i in range(1000):
            text = f"# File {i}\n\nburst item {i} version {version}\n"
            (folder / f"f{i:04d}.md").write_text(text)
    wait_for(lambda: converged(memory, queue), 240, "the burst to be indexed", interval=1)
    assert_index_matches_disk(memory, config.workspace_dir)
    top = memory.search("burst item 517 version 4", 3).results[0]
    assert top.path == "burst/f0517.md"


def test_two_workers_indexer_and_searches_never_hit_locked_errors(stack, xprocess):
    config, memory, queue, env = stack
    start_service(xprocess, "lg-worker-2", ["run", "worker"], env, "worker_ready")
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_loop() -> None:
        reader = Memory(config, memory.embedder)
        try:
            while not stop.is_set():
                reader.search("concurrent heron note", 5)
                reader.stats()
        except BaseException as exc:  # any error here is what this test is about
            errors.append(exc)
        finally:
            reader.close()

    searchers = [threading.Thread(target=search_loop) for _ in range(2)]
    for thread in searchers:
        thread.start()
    folder = config.workspace_dir / "concurrent"
    folder.mkdir()
    for i in range(300):
        (folder / f"c{i}.md").write_text(f"# C{i}\n\nconcurrent heron note {i}\n")
    wait_for(lambda: converged(memory, queue), 120, "convergence with two workers", interval=0.5)
    stop.set()
    for thread in searchers:
        thread.join()
    assert errors == []
    assert_index_matches_disk(memory, config.workspace_dir)
    for name in ("lg-worker", "lg-worker-2", "lg-indexer"):
        assert "database is locked" not in log_text(xprocess, name), name


def test_a_malformed_job_is_retried_then_parked_as_failed(stack):
    _, memory, queue, _ = stack
    job_id = queue.enqueue("index_paths", paths=["../../etc/passwd.md"])
    job = wait_for(
        lambda: (j := queue.ledger.get(job_id)).state == "failed" and j, 30, "the job to be parked"
    )
    assert job.attempts == 3
    assert "not a path inside the workspace" in job.last_error
    assert any(f["id"] == job_id for f in queue.stats()["recent_failures"])


def test_kill_9_mid_reindex_then_restart_converges(tmp_path, xprocess, services, embedder):
    config = make_home(tmp_path)
    for i in range(400):
        write(
            config.workspace_dir / "memory" / f"day{i:03d}.md",
            f"# Day {i}\n\n"
            + "\n".join(f"- entry {j} of day {i}: " + "words " * 25 for j in range(6)),
        )
    queue, memory = Queue(config), Memory(config, embedder)
    job_id = queue.enqueue("reconcile")
    env = service_env(config.home, MODEL_INT8)
    services("lg-kill-worker", ["run", "worker", "--threads", "1"], env, "worker_ready")
    indexed = lambda: memory.conn.execute("SELECT count(*) FROM files").fetchone()[0]  # noqa: E731
    wait_for(lambda: indexed() >= 30, 120, "the reindex to be under way")
    kill9(xprocess, "lg-kill-worker")
    partial = indexed()
    assert 30 <= partial < 407, "killed mid-reindex"
    assert queue.ledger.get(job_id).state == "running"

    services("lg-kill-worker", ["run", "worker", "--threads", "1"], env, "worker_ready")
    wait_for(
        lambda: queue.ledger.get(job_id).state == "succeeded",
        300,
        "the job to complete",
        interval=0.5,
    )
    job = queue.ledger.get(job_id)
    assert job.attempts == 2
    assert converged(memory, queue)
    assert_index_matches_disk(memory, config.workspace_dir)
    memory.close()


def test_a_dead_watcher_is_restarted_and_the_index_is_not_wiped(
    tmp_path, xprocess, services, embedder
):
    config = make_home(tmp_path)
    ws = config.workspace_dir
    write(ws / "memory" / "keep.md", "# Keep\n\nprecious note")
    memory, queue = Memory(config, embedder), Queue(config)
    memory.sync()
    env = service_env(config.home, MODEL_INT8)
    services("lg-watch-indexer", ["run", "indexer"], env, "indexer_ready")
    moved = tmp_path / "unplugged"
    ws.rename(moved)  # the workspace disappears (an unplugged drive, a moved folder)
    wait_for(
        lambda: "workspace_missing" in log_text(xprocess, "lg-watch-indexer"),
        30,
        "the lost workspace to be noticed and logged",
    )
    assert "watcher_lost_workspace" in log_text(xprocess, "lg-watch-indexer")
    assert memory.index.conn.execute("SELECT count(*) FROM files").fetchone()[0] == 8
    moved.rename(ws)  # it comes back, with a note written meanwhile
    write(ws / "memory" / "later.md", "# Later\n\nwritten while unplugged")
    wait_for(
        lambda: any(
            "memory/later.md" in j.args.get("paths", [])
            for j in queue.ledger.queued_older_than(-60)
        ),
        30,
        "an index job for the new note",
    )
    assert "workspace_back" in log_text(xprocess, "lg-watch-indexer")
    memory.close()
