"""Freshness: time from a file save to its text appearing in search, with real processes.

1. Bulk baseline: a 1,000-file corpus indexed in-process by `memory reindex`'s code path.
2. Starts `localgpt run indexer` and `localgpt run worker --threads 1` on a fresh home.
3. Single small edits while idle: each writes a unique word, then polls the real hybrid search
   until that word is found; prints p50 and p95.
4. A 1,000-file drop (the same corpus) into the watched workspace: time until every file is
   indexed with vectors and the queue is idle, next to the bulk baseline.

    python bench/freshness.py [--edits 30] [--files 1000] [--model-path DIR]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.index import DEFAULT_MODEL, write_corpus  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.memory import Memory, make_embedder  # noqa: E402
from shared.queue import Queue  # noqa: E402
from shared.workspace import init_home  # noqa: E402


def start(service: list[str], env: dict[str, str], ready: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "run", *service],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = threading.Event()

    def pump() -> None:  # keep reading so the pipe never fills
        for line in proc.stdout:
            if ready in line:
                seen.set()

    threading.Thread(target=pump, daemon=True).start()
    if not seen.wait(120):
        proc.kill()
        raise SystemExit(f"{service[0]} did not become ready")
    return proc


def fresh_home(root: str, name: str, model_path: str):
    os.environ.update(
        LOCALGPT_HOME=str(Path(root) / name), LOCALGPT_EMBEDDING_MODEL_PATH=model_path
    )
    os.environ.pop("LOCALGPT_WORKSPACE", None)
    config = load_config()
    init_home(config)
    return config


def bulk_baseline(root: str, model_path: str, files: int) -> float:
    config = fresh_home(root, "bulk", model_path)
    write_corpus(config.workspace_dir / "drop", files)
    memory = Memory(config, make_embedder(config))
    memory.embedder.embed(["warm-up"])
    started = time.perf_counter()
    memory.sync()
    seconds = time.perf_counter() - started
    memory.close()
    return seconds


def single_edits(config, memory: Memory, edits: int) -> list[float]:
    note = config.workspace_dir / "memory" / "freshness.md"
    latencies = []
    for _ in range(edits):
        word = "zq" + secrets.token_hex(4)
        started = time.perf_counter()
        note.write_text(f"# Freshness probe\n\nToday's secret word is {word}.\n")
        # The new text itself must be found: the previous version of the note matches the
        # query by meaning, so "the file is in the results" would be true too early.
        while not any(
            r.path == "memory/freshness.md" and word in r.snippet
            for r in memory.search(word, 3).results
        ):
            if time.perf_counter() - started > 30:
                raise SystemExit("an edit did not become searchable within 30 s")
            time.sleep(0.01)
        latencies.append(time.perf_counter() - started)
        time.sleep(1.0)  # idle between edits
    return latencies


def drop(config, memory: Memory, queue: Queue, files: int) -> float:
    started = time.perf_counter()
    write_corpus(config.workspace_dir / "drop", files)
    expected = sum(1 for _ in (config.workspace_dir / "drop").rglob("*.md"))
    while True:
        done = memory.conn.execute(
            "SELECT count(*) FROM files WHERE path LIKE 'drop/%' AND status = 'indexed'"
        ).fetchone()[0]
        missing_vectors = memory.conn.execute(
            "SELECT count(*) FROM chunks WHERE has_vector = 0"
        ).fetchone()[0]
        counts = queue.ledger.counts()
        if (
            done == expected
            and not missing_vectors
            and not counts.get("queued")
            and not counts.get("running")
        ):
            return time.perf_counter() - started
        if time.perf_counter() - started > 1200:
            raise SystemExit("the drop was not indexed within 20 minutes")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        bulk_seconds = bulk_baseline(root, args.model_path, args.files)
        config = fresh_home(root, "live", args.model_path)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "json"}
        procs = [
            start(["indexer"], env, "indexer_ready"),
            start(["worker", "--threads", "1"], env, "worker_ready"),
        ]
        try:
            memory = Memory(config, make_embedder(config))
            memory.embedder.embed(["warm-up"])
            latencies = sorted(single_edits(config, memory, args.edits))
            drop_seconds = drop(config, memory, Queue(config), args.files)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(
        f"single small edit, idle ({len(latencies)} edits): "
        f"p50 {statistics.median(latencies):.3f} s, p95 {p95:.3f} s, max {latencies[-1]:.3f} s"
    )
    print(f"bulk reindex of {args.files} files (in-process): {bulk_seconds:.1f} s")
    print(
        f"{args.files}-file drop, save to all searchable:  {drop_seconds:.1f} s "
        f"= {drop_seconds / bulk_seconds:.2f}x the bulk reindex"
    )


if __name__ == "__main__":
    main()
