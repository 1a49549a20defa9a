"""Incremental indexing against real SQLite files and the real embedding model."""

from __future__ import annotations

import os
import time

from conftest import MODEL_FP32, write

from shared.config import EmbeddingConfig
from shared.memory import Memory
from shared.memory.embedder import Embedder


def counts(memory: Memory) -> tuple[int, int, int]:
    conn = memory.conn
    chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    fts = conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
    vec = conn.execute("SELECT count(*) FROM chunks_vec").fetchone()[0]
    return chunks, fts, vec


def paths(memory: Memory) -> set[str]:
    return {r[0] for r in memory.conn.execute("SELECT DISTINCT path FROM chunks")}


def found(memory: Memory, query: str) -> set[str]:
    return {r.path for r in memory.search(query, 10).results}


def test_first_sync_indexes_every_markdown_file(memory, workspace):
    write(workspace / "knowledge" / "deep" / "espresso.md", "# Espresso\n\nGrind fine, 25 s.")
    write(workspace / "notes.txt", "not markdown")
    report = memory.sync()
    assert report.files_indexed == 8  # 7 templates + espresso
    assert "knowledge/deep/espresso.md" in paths(memory)
    assert "notes.txt" not in {r[0] for r in memory.conn.execute("SELECT path FROM files")}
    chunks, fts, vec = counts(memory)
    assert chunks == fts == vec > 0


def test_unchanged_workspace_does_no_work(memory, workspace):
    memory.sync()
    report = memory.sync()
    assert (report.files_indexed, report.chunks_embedded, report.files_removed) == (0, 0, 0)
    assert report.files_unchanged == report.files_seen


def test_touched_but_identical_file_is_not_re_embedded(memory, workspace):
    memory.sync()
    path = workspace / "MEMORY.md"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    report = memory.sync()
    assert report.files_indexed == 0 and report.chunks_embedded == 0
    assert memory.sync().files_unchanged == report.files_seen  # new mtime was recorded


def test_edit_replaces_old_chunks(memory, workspace):
    note = write(workspace / "memory" / "2026-11-01.md", "# Day\n\nBought a green kayak.")
    memory.sync()
    assert "memory/2026-11-01.md" in found(memory, "kayak")
    note.write_text("# Day\n\nSold the bicycle instead.", encoding="utf-8")
    report = memory.sync()
    assert report.files_indexed == 1
    assert "memory/2026-11-01.md" not in found(memory, "kayak")
    assert "memory/2026-11-01.md" in found(memory, "bicycle")
    chunks, fts, vec = counts(memory)
    assert chunks == fts == vec


def test_delete_leaves_no_stale_chunks(memory, workspace):
    note = write(workspace / "memory" / "gone.md", "# Gone\n\nxylophone lessons")
    memory.sync()
    note.unlink()
    report = memory.sync()
    assert report.files_removed == 1
    assert "memory/gone.md" not in paths(memory)
    assert found(memory, "xylophone") == set()
    chunks, fts, vec = counts(memory)
    assert chunks == fts == vec


def test_rename_moves_chunks_and_reuses_embeddings(memory, workspace):
    write(workspace / "memory" / "old-name.md", "# Recipe\n\nMarinate the tofu overnight.")
    memory.sync()
    (workspace / "memory" / "old-name.md").rename(workspace / "knowledge" / "tofu.md")
    report = memory.sync()
    assert report.files_removed == 1 and report.files_indexed == 1
    assert report.chunks_embedded == 0, "same text, same vectors: taken from the cache"
    assert paths(memory) >= {"knowledge/tofu.md"}
    assert "memory/old-name.md" not in paths(memory)
    assert found(memory, "marinate tofu") == {"knowledge/tofu.md"}


def test_embedding_is_batched_across_files(memory, workspace, monkeypatch):
    for i in range(30):
        write(workspace / "memory" / f"n{i}.md", f"# Note {i}\n\nFact number {i} about ferns.")
    calls = []
    real_embed = memory.embedder.embed
    monkeypatch.setattr(
        memory.embedder, "embed", lambda texts: calls.append(len(texts)) or real_embed(texts)
    )
    memory.sync()
    assert sum(calls) >= 30 and len(calls) <= 2, calls


def test_index_paths_reads_the_disk_not_the_event(memory, workspace):
    memory.sync()
    write(workspace / "memory" / "fresh.md", "# Fresh\n\nquokka sighting")
    memory.index.index_paths(["memory/fresh.md"])
    assert found(memory, "quokka") == {"memory/fresh.md"}
    (workspace / "memory" / "fresh.md").unlink()
    memory.index.index_paths(["memory/fresh.md"])  # e.g. a "modified" event for a deleted file
    assert found(memory, "quokka") == set()


def test_same_file_indexed_twice_concurrently_never_duplicates(memory, config, embedder, workspace):
    write(workspace / "memory" / "dup.md", "# Dup\n\nline one\n\nline two")
    other = Memory(config, embedder)
    memory.index.index_paths(["memory/dup.md"])
    other.index.index_paths(["memory/dup.md"])
    memory.index.index_paths(["memory/dup.md"])
    rows = memory.conn.execute("SELECT count(*) FROM chunks WHERE path = 'memory/dup.md'")
    assert rows.fetchone()[0] == 1
    other.close()


def test_model_change_is_detected_and_rebuilds_vectors(memory, config, workspace):
    write(workspace / "memory" / "m.md", "# Models\n\nThe heron stood in the reeds.")
    memory.sync()
    before = memory.conn.execute(
        "SELECT embedding_model FROM (SELECT value AS embedding_model "
        "FROM meta WHERE key='embedding_model')"
    ).fetchone()[0]
    config.embedding.model_path = str(MODEL_FP32)
    fp32 = Memory(config, Embedder(EmbeddingConfig(model_path=str(MODEL_FP32))))
    pre = fp32.search("heron")
    assert pre.mode == "keyword"
    assert any("reindex" in w for w in pre.warnings), pre.warnings
    assert fp32.stats()["model_mismatch"] is True
    report = fp32.sync()
    assert report.model_rebuild and before in report.model_rebuild
    chunks, fts, vec = counts(fp32)
    assert chunks == vec and report.vectors_backfilled == chunks
    after = fp32.search("heron")
    assert after.mode == "hybrid" and after.results[0].path == "memory/m.md"
    assert fp32.stats()["model_mismatch"] is False
    fp32.close()


def test_model_outage_indexes_keywords_then_backfills_vectors(config, embedder, workspace):
    write(workspace / "memory" / "o.md", "# Outage\n\nThe lighthouse keeper's log.")
    config.embedding.model_path = str(workspace / "no-such-model")
    broken = Memory(config, Embedder(config.embedding))
    report = broken.sync()
    assert report.vectors_disabled and "no model.onnx" in report.vectors_disabled
    response = broken.search("lighthouse")
    assert response.mode == "keyword" and response.results[0].path == "memory/o.md"
    assert response.warnings and "keyword search only" in response.warnings[0]
    assert broken.stats()["chunks_without_vector"] > 0
    broken.close()

    healthy = Memory(config, embedder)
    report = healthy.sync()
    assert report.vectors_backfilled > 0
    chunks, _, vec = counts(healthy)
    assert chunks == vec
    assert healthy.search("lighthouse").mode == "hybrid"
    healthy.close()


def test_chunking_change_rechunks_everything(memory, config, embedder, workspace):
    memory.sync()
    config.memory.chunk_tokens = 64
    smaller = Memory(config, embedder)
    report = smaller.sync()
    assert report.files_indexed == report.files_seen
    smaller.close()


def test_the_apis_lean_query_encoder_matches_fastembed(embedder):
    """The API embeds queries without fastembed (less memory); vectors must not differ."""
    from conftest import MODEL_INT8

    from shared.memory.query_encoder import QueryEncoder

    lean = QueryEncoder(MODEL_INT8)
    queries = [
        "what did I decide about the garden",
        "记忆系统在东京",
        "a" * 5000,
        "Flight to Lisbon on the 14th? (booked!)",
        "🚀 rocket",
    ]
    for query in queries:
        reference = embedder.embed([query])[0]
        assert float(next(lean.embed([query])) @ reference) > 0.9999, query


def test_query_only_embedders_use_the_lean_encoder(config):
    from shared.memory import make_embedder
    from shared.memory.query_encoder import QueryEncoder

    api_side = make_embedder(config, for_queries=True)
    assert isinstance(api_side._load(), QueryEncoder)
    assert api_side.dims == 384
    assert not isinstance(make_embedder(config)._load(), QueryEncoder)


def test_search_result_as_dict_has_every_field():
    """`as_dict` is spelled out for speed: a new field must not be left out of the API."""
    from dataclasses import fields

    from shared.memory.search import SearchResult

    hit = SearchResult("a.md", 1, 2, "H", 0.5, "text", 0.25, 0.75)
    assert hit.as_dict().keys() == {f.name for f in fields(SearchResult)} | {"citation"}
    assert hit.as_dict()["citation"] == "a.md#L1-L2"
