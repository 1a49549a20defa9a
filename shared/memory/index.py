"""Keeping the memory DB in step with the workspace.

`sync()` compares the disk with the `files` table (size + mtime first, then content hash) and
re-chunks only what changed; `index_paths()` does the same for named files (the worker jobs).
Chunks from many files are embedded together in batches; vectors come from the embedding cache
whenever the same text was embedded before (renames and unchanged passages cost nothing).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import apsw
import numpy as np

from shared.config import Config
from shared.logs import get_logger
from shared.memory import db
from shared.memory.chunker import CHUNKER_VERSION, Chunk, chunk_markdown
from shared.memory.dates import find_date, note_date, spoken
from shared.memory.embedder import Embedder, EmbedderUnavailable, probes_match
from shared.memory.files import (
    DiskFile,
    ReadFile,
    SkipFile,
    file_hash,
    is_note_name,
    read_markdown,
    scan_workspace,
)
from shared.memory.fts import fts_text
from shared.workspace import OutsideWorkspaceError, resolve_in_workspace

log = get_logger("memory.index")

BATCH_CHUNKS = 256  # chunks embedded and written per transaction


@dataclass
class SyncReport:
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_skipped: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0  # new embeddings computed (cache misses)
    vectors_backfilled: int = 0
    model_rebuild: str | None = None  # why vectors were rebuilt, if they were
    vectors_disabled: str | None = None  # why no vectors were made, if none were
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)


# progress(kind, advance, total): kind is "files" or "chunks"; total is set once per phase.
Progress = Callable[[str, int, int | None], None]


def _no_progress(kind: str, advance: int, total: int | None) -> None:
    pass


@dataclass
class _Pending:
    """A file read and chunked, waiting for its vectors and its write."""

    path: str
    read: ReadFile
    chunks: list[Chunk]
    embed_texts: list[str]
    embed_hashes: list[str]


class WorkspaceMissing(Exception):
    """The workspace folder is gone (unmounted, moved): never read that as "delete everything"."""


class MemoryIndex:
    def __init__(
        self, config: Config, embedder: Embedder | None = None, conn: apsw.Connection | None = None
    ) -> None:
        self.config = config
        self.workspace = config.workspace_dir
        self.embedder = embedder
        self.conn = conn or db.connect(config.memory_db)
        self.max_bytes = int(config.memory.max_file_mb * 1_000_000)
        self.chunk_tokens = config.memory.chunk_tokens
        self.context_blocks = config.memory.context_blocks

    # -- public ---------------------------------------------------------------------------

    def sync(self, force: bool = False, progress: Progress | None = None) -> SyncReport:
        """Bring the index to exactly what is on disk."""
        progress = progress or _no_progress
        started = time.monotonic()
        self._require_workspace()
        report = SyncReport()
        self._prepare_vectors(report)
        rechunk = force or self._chunking_changed()
        on_disk = scan_workspace(self.workspace)
        known = self._known_files()
        report.files_seen = len(on_disk)
        removed = [p for p in known if p not in on_disk]
        self._remove(removed, report)
        changed = [p for p, disk in on_disk.items() if rechunk or _differs(disk, known.get(p))]
        report.files_unchanged = len(on_disk) - len(changed)
        self._index(changed, report, progress, rechunk=rechunk)
        self._backfill_vectors(report, progress)
        if rechunk:
            self._record_chunking()
        report.seconds = time.monotonic() - started
        log.info("memory_sync_done", **_summary(report))
        return report

    def diff(self) -> tuple[list[str], list[str]]:
        """(changed, removed): files whose content differs from the index, and indexed files
        gone from disk. Needs no model. A file whose stat changed but whose content did not
        only gets its new stat recorded."""
        self._require_workspace()
        on_disk = scan_workspace(self.workspace)
        known = self._known_files()
        removed = [p for p in known if p not in on_disk]
        changed = []
        for rel, disk in on_disk.items():
            entry = known.get(rel)
            if not _differs(disk, entry):
                continue
            unchanged_content = (
                entry is not None
                and entry[3] == "indexed"
                and entry[2] is not None
                and file_hash(self.workspace / rel, self.max_bytes) == entry[2]
            )
            if unchanged_content:
                with db.write_tx(self.conn):
                    self.conn.execute(
                        "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                        (disk.size, disk.mtime_ns, rel),
                    )
            else:
                changed.append(rel)
        return changed, removed

    def index_paths(self, paths: Iterable[str], progress: Progress = _no_progress) -> SyncReport:
        """Re-read the named workspace-relative files: index what exists, drop what doesn't."""
        started = time.monotonic()
        self._require_workspace()
        report = SyncReport()
        self._prepare_vectors(report)
        present, missing = [], []
        for rel in dict.fromkeys(self._confined(p) for p in paths):
            note = is_note_name(rel) and (self.workspace / rel).is_file()
            (present if note else missing).append(rel)
        self._remove([p for p in missing if p in self._known_files()], report)
        self._index(present, report, progress, rechunk=False)
        report.seconds = time.monotonic() - started
        return report

    def _confined(self, rel: str) -> str:
        """A workspace-relative path, refused if it (or the link it names) leads outside."""
        candidate = Path(rel)
        if candidate.is_absolute() or ".." in candidate.parts or not rel.strip():
            raise OutsideWorkspaceError(f"{rel!r} is not a path inside the workspace")
        resolve_in_workspace(self.workspace, rel)  # follows links; raises if they escape
        return candidate.as_posix()

    def _require_workspace(self) -> None:
        if not self.workspace.is_dir():
            raise WorkspaceMissing(f"workspace {self.workspace} does not exist or is not a folder")

    # -- model identity -------------------------------------------------------------------

    def _prepare_vectors(self, report: SyncReport) -> None:
        """Make sure stored vectors come from the configured model, or rebuild them."""
        if self.embedder is None:
            report.vectors_disabled = "no embedding model configured"
            return
        try:
            dims = self.embedder.dims
            probe = self.embedder.probe()  # a served model: its vector for a fixed text
        except EmbedderUnavailable as exc:
            report.vectors_disabled = str(exc)
            log.warning("embedding_unavailable", reason=str(exc))
            return
        current = self.embedder.identity.key
        stored = db.get_meta(self.conn, "embedding_model")
        stored_probe = db.get_meta(self.conn, "embedding_probe")
        same_probe = stored_probe is None or probes_match(stored_probe, probe)
        if stored == current and db.vector_dims(self.conn) == dims and same_probe:
            if probe is not None and stored_probe is None:
                with db.write_tx(self.conn):
                    db.set_meta(self.conn, "embedding_probe", json.dumps(probe))
            return
        with db.write_tx(self.conn):
            if stored is not None and stored != current:
                report.model_rebuild = f"embedding model changed from {stored} to {current}"
                log.warning("embedding_model_changed", previous=stored, current=current)
            elif stored is not None and not same_probe:
                report.model_rebuild = f"the model served as {current} gives other vectors now"
                log.warning("embedding_model_changed", previous=stored, current=current)
            if stored != current or db.vector_dims(self.conn) != dims or not same_probe:
                db.recreate_vector_table(self.conn, dims)
                # Cached vectors under this name came from the model that was replaced.
                self.conn.execute("DELETE FROM embedding_cache WHERE model = ?", (current,))
            db.set_meta(self.conn, "embedding_model", current)
            db.set_meta(self.conn, "embedding_dims", str(dims))
            if probe is not None:
                db.set_meta(self.conn, "embedding_probe", json.dumps(probe))
            else:
                self.conn.execute("DELETE FROM meta WHERE key = 'embedding_probe'")

    def _vectors_enabled(self, report: SyncReport) -> bool:
        return self.embedder is not None and report.vectors_disabled is None

    # -- chunking version -----------------------------------------------------------------

    def _chunking_key(self) -> str:
        return f"{CHUNKER_VERSION}:{self.chunk_tokens}:{self.context_blocks}"

    def _chunking_changed(self) -> bool:
        stored = db.get_meta(self.conn, "chunking")
        has_files = self.conn.execute("SELECT 1 FROM files LIMIT 1").fetchone()
        return bool(has_files) and stored != self._chunking_key()

    def _record_chunking(self) -> None:
        with db.write_tx(self.conn):
            db.set_meta(self.conn, "chunking", self._chunking_key())

    # -- reading --------------------------------------------------------------------------

    def _known_files(self) -> dict[str, tuple[int, int, str | None, str]]:
        rows = self.conn.execute("SELECT path, size, mtime_ns, hash, status FROM files")
        return {path: (size, mtime, hash_, status) for path, size, mtime, hash_, status in rows}

    def _index(
        self, paths: list[str], report: SyncReport, progress: Progress, rechunk: bool
    ) -> None:
        if not paths:
            return
        if db.get_meta(self.conn, "chunking") is None:
            self._record_chunking()
        progress("files", 0, len(paths))
        known = self._known_files()
        batch: list[_Pending] = []
        batch_chunks = 0
        for rel in paths:
            pending = self._read(rel, known.get(rel), report, rechunk)
            progress("files", 1, None)
            if pending is None:
                continue
            batch.append(pending)
            batch_chunks += len(pending.chunks)
            if batch_chunks >= BATCH_CHUNKS:
                self._write_batch(batch, report, progress)
                batch, batch_chunks = [], 0
        if batch:
            self._write_batch(batch, report, progress)

    def _read(self, rel: str, known, report: SyncReport, rechunk: bool) -> _Pending | None:
        path = self.workspace / rel
        try:
            read = read_markdown(path, self.max_bytes)
            read = self._settle(path, read)
        except SkipFile as exc:
            self._record_skip(rel, path, str(exc), report)
            return None
        for warning in read.warnings:
            log.warning("memory_file_warning", path=rel, reason=warning)
        if known and known[2] == read.hash and known[3] == "indexed" and not rechunk:
            self._touch(rel, read)  # same content, new mtime (e.g. `touch`): nothing to re-embed
            report.files_unchanged += 1
            return None
        chunks = chunk_markdown(read.text, self.chunk_tokens, self.context_blocks)
        texts = [embed_text(rel, c) for c in chunks]
        hashes = [_sha(t) for t in texts]
        return _Pending(rel, read, chunks, texts, hashes)

    def _settle(self, path: Path, read: ReadFile) -> ReadFile:
        """Re-read a file that changed while being read; keep the pre-read stat otherwise,
        so a change we could not catch leaves the stored mtime stale and is picked up later."""
        for _ in range(3):
            try:
                st = path.stat()
            except OSError:
                return read
            if (st.st_size, st.st_mtime_ns) == (read.size, read.mtime_ns):
                return read
            log.info("memory_file_changed_while_reading", path=str(path))
            read = read_markdown(path, self.max_bytes)
        return read

    # -- writing --------------------------------------------------------------------------

    def _write_batch(self, batch: list[_Pending], report: SyncReport, progress: Progress) -> None:
        vectors = self._vectors_for(batch, report)
        now = time.time()
        with db.write_tx(self.conn):
            for item in batch:
                self._replace_file(item, vectors, now)
        written = sum(len(item.chunks) for item in batch)
        report.files_indexed += len(batch)
        report.chunks_written += written
        progress("chunks", written, None)

    def _vectors_for(self, batch: list[_Pending], report: SyncReport) -> dict[str, bytes]:
        """Vectors by embed-hash: from the cache, else embedded now (all misses in one call)."""
        if not self._vectors_enabled(report):
            return {}
        wanted: dict[str, str] = {}
        for item in batch:
            wanted.update(zip(item.embed_hashes, item.embed_texts, strict=True))
        return self._vectors_by_hash(wanted, report)

    def _vectors_by_hash(self, wanted: dict[str, str], report: SyncReport) -> dict[str, bytes]:
        model = self.embedder.identity.key
        found = self._cached_vectors(model, list(wanted))
        missing = [h for h in wanted if h not in found]
        if missing:
            try:
                embedded = self.embedder.embed([wanted[h] for h in missing])
            except EmbedderUnavailable as exc:
                report.vectors_disabled = str(exc)
                return found
            new = {
                h: v.astype(np.float32).tobytes() for h, v in zip(missing, embedded, strict=True)
            }
            with db.write_tx(self.conn):
                self.conn.executemany(
                    "INSERT OR IGNORE INTO embedding_cache(model, hash, vector) VALUES (?, ?, ?)",
                    [(model, h, v) for h, v in new.items()],
                )
            found.update(new)
            report.chunks_embedded += len(new)
        return found

    def _cached_vectors(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                f"SELECT hash, vector FROM embedding_cache WHERE model = ? AND hash IN ({marks})",
                (model, *part),
            )
            found.update(rows)
        return found

    def _replace_file(self, item: _Pending, vectors: dict[str, bytes], now: float) -> None:
        """Swap a file's chunks for new ones (inside the caller's transaction)."""
        conn = self.conn
        conn.execute("DELETE FROM chunks WHERE path = ?", (item.path,))
        conn.execute(
            "INSERT INTO files(path, size, mtime_ns, hash, status, error, chunker_version,"
            " indexed_at) VALUES (?, ?, ?, ?, 'indexed', NULL, ?, ?)"
            " ON CONFLICT(path) DO UPDATE SET size = excluded.size,"
            " mtime_ns = excluded.mtime_ns, hash = excluded.hash, status = 'indexed',"
            " error = NULL, chunker_version = excluded.chunker_version,"
            " indexed_at = excluded.indexed_at",
            (item.path, item.read.size, item.read.mtime_ns, item.read.hash, CHUNKER_VERSION, now),
        )
        for seq, (chunk, ehash) in enumerate(zip(item.chunks, item.embed_hashes, strict=True)):
            vector = vectors.get(ehash)
            day = chunk_day(item.path, chunk)
            conn.execute(
                "INSERT INTO chunks(path, start_line, end_line, heading, text, hash, embed_hash,"
                " has_vector, day, seq, context, provenance)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.path,
                    chunk.start_line,
                    chunk.end_line,
                    chunk.heading,
                    chunk.text,
                    chunk.hash,
                    ehash,
                    int(vector is not None),
                    day.isoformat() if day else None,
                    seq,
                    chunk.context,
                    chunk.provenance,
                ),
            )
            chunk_id = conn.last_insert_rowid()
            conn.execute(
                "INSERT INTO chunks_fts(rowid, body, heading, path) VALUES (?, ?, ?, ?)",
                (
                    chunk_id,
                    fts_text(f"{chunk.context}\n{chunk.text}" if chunk.context else chunk.text),
                    fts_text(chunk_context(item.path, chunk)),
                    _path_words(item.path),
                ),
            )
            if vector is not None:
                conn.execute(
                    "INSERT INTO chunks_vec(chunk_id, embedding) VALUES (?, ?)", (chunk_id, vector)
                )

    def _touch(self, rel: str, read: ReadFile) -> None:
        with db.write_tx(self.conn):
            self.conn.execute(
                "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                (read.size, read.mtime_ns, rel),
            )

    def _record_skip(self, rel: str, path: Path, reason: str, report: SyncReport) -> None:
        """Remember why a file is not indexed; a later change to it is retried."""
        log.warning("memory_file_skipped", path=rel, reason=reason)
        report.files_skipped += 1
        report.skipped[rel] = reason
        try:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = 0, 0
        status = "error" if reason.startswith(("unreadable", "file disappeared")) else "skipped"
        with db.write_tx(self.conn):
            self.conn.execute("DELETE FROM chunks WHERE path = ?", (rel,))
            self.conn.execute(
                "INSERT INTO files(path, size, mtime_ns, hash, status, error, indexed_at)"
                " VALUES (?, ?, ?, NULL, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                " size = excluded.size, mtime_ns = excluded.mtime_ns, hash = NULL,"
                " status = excluded.status, error = excluded.error,"
                " indexed_at = excluded.indexed_at",
                (rel, size, mtime, status, reason, time.time()),
            )

    def _remove(self, paths: list[str], report: SyncReport) -> None:
        if not paths:
            return
        with db.write_tx(self.conn):
            self.conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])
        report.files_removed += len(paths)
        log.info("memory_files_removed", count=len(paths))

    def _backfill_vectors(self, report: SyncReport, progress: Progress) -> None:
        """Embed chunks stored without a vector (after a model change or a model outage)."""
        if not self._vectors_enabled(report):
            return
        total = self.conn.execute("SELECT count(*) FROM chunks WHERE has_vector = 0").fetchone()[0]
        if not total:
            return
        progress("chunks", 0, total)
        while True:
            rows = self.conn.execute(
                "SELECT id, embed_hash, path, start_line, end_line, heading, text, context"
                " FROM chunks WHERE has_vector = 0 LIMIT ?",
                (BATCH_CHUNKS,),
            ).fetchall()
            if not rows:
                return
            wanted = {r[1]: embed_text(r[2], Chunk(r[3], r[4], r[5], r[6], r[7])) for r in rows}
            vectors = self._vectors_by_hash(wanted, report)
            if report.vectors_disabled:
                return
            with db.write_tx(self.conn):
                for chunk_id, ehash, *_ in rows:
                    self.conn.execute("DELETE FROM chunks_vec WHERE chunk_id = ?", (chunk_id,))
                    self.conn.execute(
                        "INSERT INTO chunks_vec(chunk_id, embedding) VALUES (?, ?)",
                        (chunk_id, vectors[ehash]),
                    )
                    self.conn.execute("UPDATE chunks SET has_vector = 1 WHERE id = ?", (chunk_id,))
            report.vectors_backfilled += len(rows)
            progress("chunks", len(rows), None)


def embed_text(path: str, chunk: Chunk) -> str:
    """What the model sees for a chunk: where it sits (day, file and headings), what comes
    just before it, then its text."""
    parts = [chunk_context(path, chunk), chunk.context, chunk.text]
    return "\n".join(part for part in parts if part)


def chunk_day(path: str, chunk: Chunk):
    """The date a chunk belongs to (innermost dated heading, else the daily log's file name)."""
    return note_date(path, chunk.heading.split(" › ") if chunk.heading else [])


def chunk_context(path: str, chunk: Chunk) -> str:
    """A chunk's heading path, led by its day in words when no heading already says it (a
    daily log `memory/2026-11-20.md` gets "Friday 20 November 2026"). Indexed and embedded
    with the chunk, so "what did I do in November" can match by keyword and by meaning."""
    day = chunk_day(path, chunk)
    context = chunk.heading or ("" if day else Path(path).stem)
    if day is not None and find_date(chunk.heading) is None:
        context = f"{spoken(day)} › {context}" if context else spoken(day)
    return context


def _differs(disk: DiskFile, known) -> bool:
    if known is None:
        return True
    size, mtime, _hash, status = known
    return status == "error" or (size, mtime) != (disk.size, disk.mtime_ns)


def _path_words(path: str) -> str:
    return path.replace("/", " ").replace("-", " ").replace("_", " ").removesuffix(".md")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _summary(report: SyncReport) -> dict:
    return {k: v for k, v in report.__dict__.items() if k != "skipped" and v not in (None, 0)}
