"""What the index holds and how fresh it is, compared with the workspace on disk."""

from __future__ import annotations

from datetime import UTC, datetime

import apsw

from shared.config import Config
from shared.memory import db
from shared.memory.embedder import model_identity
from shared.memory.files import scan_workspace


def memory_stats(config: Config, conn: apsw.Connection) -> dict:
    on_disk = scan_workspace(config.workspace_dir)
    known = {
        path: (size, mtime, status, error)
        for path, size, mtime, status, error in conn.execute(
            "SELECT path, size, mtime_ns, status, error FROM files"
        )
    }
    pending = sorted(
        p
        for p, disk in on_disk.items()
        if p not in known or known[p][:2] != (disk.size, disk.mtime_ns) or known[p][2] == "error"
    )
    stale = sorted(p for p in known if p not in on_disk)
    # Two indexed counts: one scan of `chunks` would read every chunk's text.
    chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    without_vector = conn.execute("SELECT count(*) FROM chunks WHERE has_vector = 0").fetchone()[0]
    last = conn.execute("SELECT max(indexed_at) FROM files").fetchone()[0]
    index_model = db.get_meta(conn, "embedding_model")
    configured = model_identity(config.embedding).key
    return {
        "workspace": str(config.workspace_dir),
        "files_on_disk": len(on_disk),
        "files_indexed": sum(1 for v in known.values() if v[2] == "indexed"),
        "files_pending": len(pending),
        "pending": pending[:50],
        "files_removed_pending": len(stale),
        "files_skipped": {p: v[3] for p, v in known.items() if v[2] != "indexed"},
        "chunks": chunks,
        "chunks_without_vector": without_vector,
        "embedding_model": configured,
        "index_embedding_model": index_model,
        "model_mismatch": index_model is not None and index_model != configured,
        "db_path": str(config.memory_db),
        "db_bytes": _db_bytes(config),
        "last_indexed_at": datetime.fromtimestamp(last, UTC).isoformat() if last else None,
    }


def _db_bytes(config: Config) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        path = config.memory_db.with_name(config.memory_db.name + suffix)
        if path.exists():
            total += path.stat().st_size
    return total
