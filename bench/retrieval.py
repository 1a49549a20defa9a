"""Retrieval quality on the LoCoMo dev set beside the repo (../shared/eval/locomo-dev).

Indexes the dev workspace into a temporary LocalGPT home, runs every question through the real
hybrid search and scores it with the dev set's metric: walk results in rank order, take them
while the characters of their line ranges stay within a 6,000-character budget, and count a hit
when an evidence line lies inside a taken result of the same file. Also prints recall@5 and the
median search latency.

    python bench/retrieval.py [--eval-dir DIR] [--model-path DIR] [--chunk-tokens N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.config import load_config  # noqa: E402
from shared.memory.embedder import Embedder  # noqa: E402
from shared.memory.index import MemoryIndex  # noqa: E402
from shared.memory.search import MemorySearch  # noqa: E402

BUDGET_CHARS = 6000
DEFAULT_EVAL = ROOT.parent / "shared" / "eval" / "locomo-dev"
DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx-int8"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    parser.add_argument("--chunk-tokens", type=int, default=None)
    parser.add_argument("--vector-weight", type=float, default=None)
    parser.add_argument("--keyword-weight", type=float, default=None)
    parser.add_argument("--by-category", action="store_true")
    args = parser.parse_args()

    workspace = args.eval_dir / "workspace"
    questions = [json.loads(line) for line in (args.eval_dir / "qa.jsonl").open()]
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(
            LOCALGPT_HOME=home,
            LOCALGPT_WORKSPACE=str(workspace),
            LOCALGPT_EMBEDDING_MODEL_PATH=args.model_path,
        )
        config = load_config()
        if args.chunk_tokens:
            config.memory.chunk_tokens = args.chunk_tokens
        if args.vector_weight is not None:
            config.memory.vector_weight = args.vector_weight
        if args.keyword_weight is not None:
            config.memory.keyword_weight = args.keyword_weight
        embedder = Embedder(config.embedding)
        index = MemoryIndex(config, embedder)
        started = time.perf_counter()
        report = index.sync()
        index_seconds = time.perf_counter() - started
        search = MemorySearch(index.conn, embedder, config.memory)
        search.search("warm-up")
        file_lines = _file_lines(workspace)
        scores = [_score(q, search, file_lines) for q in questions]

    hits_budget = [s[0] for s in scores]
    hits_at5 = [s[1] for s in scores]
    latencies = [s[2] for s in scores]
    print(f"questions:        {len(questions)}")
    print(
        f"chunks indexed:   {report.chunks_written} from {report.files_indexed} files "
        f"in {index_seconds:.1f} s (chunk_tokens={config.memory.chunk_tokens})"
    )
    print(f"recall@budget:    {sum(hits_budget) / len(scores):.3f}  (budget {BUDGET_CHARS} chars)")
    print(f"recall@5:         {sum(hits_at5) / len(scores):.3f}")
    print(
        f"median latency:   {statistics.median(latencies):.1f} ms  "
        f"(p95 {sorted(latencies)[int(len(latencies) * 0.95)]:.1f} ms)"
    )
    if args.by_category:
        by_cat: dict[int, list[int]] = defaultdict(list)
        for q, s in zip(questions, scores, strict=True):
            by_cat[q["category"]].append(s[0])
        for cat, hits in sorted(by_cat.items()):
            print(f"  category {cat}: {sum(hits) / len(hits):.3f} (n={len(hits)})")


def _file_lines(workspace: Path) -> dict[str, list[str]]:
    return {
        p.relative_to(workspace).as_posix(): p.read_text(encoding="utf-8").split("\n")
        for p in workspace.rglob("*.md")
    }


def _score(question: dict, search: MemorySearch, file_lines: dict[str, list[str]]):
    response = search.search(question["question"], limit=50)
    evidence = {(e["path"], e["line"]) for e in question["evidence"]}
    used, hit_budget = 0, False
    for result in response.results:
        lines = file_lines[result.path][result.start_line - 1 : result.end_line]
        used += sum(len(line) + 1 for line in lines)  # newlines count too (conservative)
        if used > BUDGET_CHARS:
            break
        if any(
            p == result.path and result.start_line <= ln <= result.end_line for p, ln in evidence
        ):
            hit_budget = True
            break
    hit_at5 = any(
        p == r.path and r.start_line <= ln <= r.end_line
        for r in response.results[:5]
        for p, ln in evidence
    )
    return hit_budget, hit_at5, response.took_ms


if __name__ == "__main__":
    main()
