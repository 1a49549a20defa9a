"""The `localgpt` command line, run as a real process."""

from __future__ import annotations

import json
import tomllib

from conftest import MODEL_INT8, run_cli, write


def test_init_creates_openclaw_workspace_and_never_overwrites(tmp_path):
    env = {"LOCALGPT_HOME": str(tmp_path / "h")}
    done = run_cli("init", env=env)
    assert done.returncode == 0, done.stderr
    ws = tmp_path / "h" / "workspace"
    for name in (
        "AGENTS.md",
        "SOUL.md",
        "USER.md",
        "IDENTITY.md",
        "TOOLS.md",
        "HEARTBEAT.md",
        "MEMORY.md",
    ):
        assert (ws / name).is_file(), name
    for name in ("memory", "knowledge", "skills"):
        assert (ws / name).is_dir()
    for name in ("config.toml", "data", "sessions", "logs"):
        assert (tmp_path / "h" / name).exists()
    assert "## Session Startup" in (ws / "AGENTS.md").read_text()
    assert "## Red Lines" in (ws / "AGENTS.md").read_text()

    (ws / "SOUL.md").write_text("my own soul")
    (ws / "MEMORY.md").unlink()
    again = run_cli("init", env=env)
    assert again.returncode == 0
    assert (ws / "SOUL.md").read_text() == "my own soul"
    assert (ws / "MEMORY.md").exists(), "a missing file is seeded again"
    assert "kept" in again.stdout


def test_init_in_an_existing_openclaw_workspace_keeps_everything(tmp_path):
    openclaw = tmp_path / "openclaw-ws"
    write(openclaw / "SOUL.md", "# Mine\n")
    write(openclaw / "memory" / "2026-01-02.md", "- note\n")
    env = {"LOCALGPT_HOME": str(tmp_path / "h"), "LOCALGPT_WORKSPACE": str(openclaw)}
    assert run_cli("init", env=env).returncode == 0
    assert (openclaw / "SOUL.md").read_text() == "# Mine\n"
    assert (openclaw / "memory" / "2026-01-02.md").read_text() == "- note\n"
    assert (openclaw / "AGENTS.md").exists()


def test_config_show_reflects_file_and_environment(home):
    (home / "config.toml").write_text("[memory]\nsearch_limit = 9\n[server]\nport = 4000\n")
    done = run_cli("config", "show", env={"LOCALGPT_WORKSPACE": "/tmp/elsewhere"})
    assert done.returncode == 0, done.stderr
    shown = tomllib.loads(done.stdout)
    assert shown["memory"]["search_limit"] == 9
    assert shown["server"]["port"] == 4000
    assert shown["workspace"]["path"] == "/tmp/elsewhere"
    assert shown["embedding"]["model_path"] == str(MODEL_INT8)
    assert shown["paths"]["memory_db"] == str(home / "data" / "memory.db")
    as_json = json.loads(run_cli("config", "show", "--json").stdout)
    assert as_json["paths"]["home"] == str(home)


def test_broken_config_gives_one_clear_line(home):
    (home / "config.toml").write_text("[memory\nsearch_limit = ")
    done = run_cli("memory", "stats")
    assert done.returncode == 2
    assert "not valid TOML" in done.stderr and "Traceback" not in done.stderr
    (home / "config.toml").write_text('[memory]\nsearch_limit = "many"\n')
    done = run_cli("memory", "stats")
    assert done.returncode == 2 and "memory.search_limit" in done.stderr


def test_reindex_search_stats_and_get(home, workspace):
    write(
        workspace / "memory" / "2026-03-04.md",
        "# 4 March\n\n## Garden\n\n- Planted tomatoes and basil\n- The fig tree needs pruning\n",
    )
    done = run_cli("memory", "reindex")
    assert done.returncode == 0, done.stderr
    assert "Indexed 8 file(s)" in done.stdout

    human = run_cli("memory", "search", "when to prune the fig")
    assert human.returncode == 0, human.stderr
    assert "memory/2026-03-04.md#L1-L6" in human.stdout.splitlines()[0]

    data = json.loads(run_cli("memory", "search", "tomatoes", "--json", "--limit", "2").stdout)
    assert set(data) >= {"query", "results", "took_ms"}
    assert data["query"] == "tomatoes" and len(data["results"]) <= 2
    top = data["results"][0]
    assert top["path"] == "memory/2026-03-04.md"
    assert (top["start_line"], top["end_line"]) == (1, 6)
    assert top["heading"] == "4 March › Garden"
    for key in ("score", "snippet", "keyword_score", "vector_score", "citation"):
        assert key in top
    assert top["keyword_score"] > 0 and top["vector_score"] > 0

    stats = json.loads(run_cli("memory", "stats", "--json").stdout)
    assert stats["files_indexed"] == 8 and stats["files_pending"] == 0
    assert stats["chunks"] > 0 and stats["db_bytes"] > 0 and stats["last_indexed_at"]
    assert stats["embedding_model"].startswith("sentence-transformers/all-MiniLM-L6-v2@")

    got = run_cli("memory", "get", "memory/2026-03-04.md", "--from", "5", "--lines", "2")
    assert got.stdout == "- Planted tomatoes and basil\n- The fig tree needs pruning\n"


def test_stats_show_files_not_yet_indexed(home, workspace):
    run_cli("memory", "reindex")
    write(workspace / "memory" / "new.md", "# New\n")
    stats = json.loads(run_cli("memory", "stats", "--json").stdout)
    assert stats["files_pending"] == 1 and stats["pending"] == ["memory/new.md"]


def test_memory_get_refuses_paths_outside_the_workspace(home, workspace, tmp_path):
    write(tmp_path / "secret.md", "secret")
    (workspace / "link.md").symlink_to(tmp_path / "secret.md")
    for path in ("../../secret.md", str(tmp_path / "secret.md"), "/etc/passwd", "link.md"):
        done = run_cli("memory", "get", path)
        assert done.returncode == 1, path
        assert "outside the workspace" in done.stderr and "secret" not in done.stdout
    missing = run_cli("memory", "get", "memory/none.md")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    bad = run_cli("memory", "get", "MEMORY.md", "--from", "0")
    assert bad.returncode == 1 and "--from" in bad.stderr


def test_search_without_a_loadable_model_uses_keywords_and_says_so(home, workspace):
    write(workspace / "memory" / "k.md", "# K\n\nthe kingfisher dove")
    env = {"LOCALGPT_EMBEDDING_MODEL_PATH": str(home / "missing-model")}
    assert run_cli("memory", "reindex", env=env).returncode == 0
    done = run_cli("memory", "search", "kingfisher", env=env)
    assert done.returncode == 0
    assert "keyword search only" in done.stderr
    assert "memory/k.md" in done.stdout
    data = json.loads(run_cli("memory", "search", "kingfisher", "--json", env=env).stdout)
    assert data["mode"] == "keyword" and data["warnings"]


def test_empty_query_is_refused(home):
    done = run_cli("memory", "search", "   ")
    assert done.returncode == 1 and "empty" in done.stderr


def test_markup_like_text_is_printed_verbatim(home, workspace):
    write(workspace / "memory" / "[draft] plan.md", "# Tasks [done]\n\n- [x] buy [red] paint\n")
    assert run_cli("memory", "reindex").returncode == 0
    done = run_cli("memory", "search", "[red] paint")
    assert done.returncode == 0, done.stderr
    assert "memory/[draft] plan.md#L1-L3" in done.stdout
    assert "Tasks [done]" in done.stdout and "- [x] buy [red] paint" in done.stdout
