"""Retrieval quality on the LoCoMo dev set beside the repo (../shared/eval/locomo-dev).

Indexes the dev workspace (both conversations, one index) into a temporary LocalGPT home, runs
every question through the real search and scores it with the dev set's metric: walk results
in rank order, take them while the characters of their line ranges stay within a 6,000-character
budget, and count a hit when an evidence line lies inside a taken result of the same file.

What it prints:
- a reference row: the issue's 50-line baseline (line chunks of ~600 chars with 120 overlap, the
  day's heading in front, porter FTS5 without stop-words, OR-ed terms, the same model, RRF k=10);
- the shipped defaults, per conversation (conv-26, conv-30) and overall, with recall@5 (the
  first five results of a `limit=5` search) and the median search latency;
- the two-way cross-check, the headline: every setting the search has that could be tuned
  (rrf_k, chunk_tokens, context_blocks, whether a question's time expression adds a ranking)
  is chosen on one
  conversation and scored on the other, both ways; the figure is the hits of both halves over
  all questions. A setting only earns its place if it holds on the half it was not chosen on.
  The choice follows the one-standard-error rule (the defaults stay unless another setting
  beats them on the tuning half by more than one standard error: 1-3 questions there are
  noise); the plain argmax choice is printed too;
- recency on (30-day half-life, each conversation's "today" the day after its last note): it
  must not lower recall;
- options: the fp32 model, and a served embedding model (`--served-api-base`), with their
  indexing time and query latency.

Each question is asked as of the day after its conversation's last note (the "current date"
its time expressions, like "in June", are read against).

    python bench/retrieval.py [--eval-dir DIR] [--model-path DIR] [--quick] [--by-category]
        [--served-api-base URL --served-model NAME [--served-query-prefix P]
         [--served-document-prefix P]]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import apsw  # noqa: E402
import numpy as np  # noqa: E402

from shared.config import Config, load_config  # noqa: E402
from shared.memory.dates import file_date  # noqa: E402
from shared.memory.embedder import Embedder  # noqa: E402
from shared.memory.fts import query_terms, terms_expression  # noqa: E402
from shared.memory.index import MemoryIndex  # noqa: E402
from shared.memory.search import MemorySearch  # noqa: E402

BUDGET_CHARS = 6000
DEFAULT_EVAL = ROOT.parent / "shared" / "eval" / "locomo-dev"
DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx-int8"
FP32_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx"

# The settings the cross-check may choose; the shipped default of each comes first.
RRF_K = (10.0, 5.0, 20.0, 60.0)
CHUNK_TOKENS = (160, 120, 240)
CONTEXT_BLOCKS = (1, 0, 2)
TIME_RANKING = (True, False)


@dataclass
class Outcome:
    """Per question: hit within the budget, hit in the top 5, search latency (ms)."""

    budget: list[bool] = field(default_factory=list)
    at5: list[bool] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)


class DevSet:
    def __init__(self, eval_dir: Path) -> None:
        self.workspace = eval_dir / "workspace"
        self.questions = [json.loads(line) for line in (eval_dir / "qa.jsonl").open()]
        self.lines = {
            p.relative_to(self.workspace).as_posix(): p.read_text(encoding="utf-8").split("\n")
            for p in self.workspace.rglob("*.md")
        }
        self.convs = sorted({q["conv"] for q in self.questions})
        # Each conversation's "today": the day after its last daily log.
        last: dict[str, date] = {}
        for path in self.lines:
            conv, day = path.split("/")[1], file_date(path)
            if day and (conv not in last or day > last[conv]):
                last[conv] = day
        self.today = {conv: day + timedelta(days=1) for conv, day in last.items()}

    def hit(self, question: dict, spans: list[tuple[str, int, int]]) -> tuple[bool, int]:
        """(hit within the budget, characters taken) for results in rank order."""
        evidence = {(e["path"], e["line"]) for e in question["evidence"]}
        used = 0
        for path, start, end in spans:
            used += sum(len(line) + 1 for line in self.lines[path][start - 1 : end])
            if used > BUDGET_CHARS:
                return False, used
            if any(p == path and start <= line <= end for p, line in evidence):
                return True, used
        return False, used

    def covers(self, question: dict, spans: list[tuple[str, int, int]]) -> bool:
        evidence = {(e["path"], e["line"]) for e in question["evidence"]}
        return any(p == s[0] and s[1] <= line <= s[2] for s in spans for p, line in evidence)

    def recall(self, outcome: Outcome, conv: str | None = None, at5: bool = False) -> float:
        hits = outcome.at5 if at5 else outcome.budget
        chosen = [h for h, q in zip(hits, self.questions, strict=True) if conv in (None, q["conv"])]
        return sum(chosen) / len(chosen) if chosen else 0.0


# -- LocalGPT's search ------------------------------------------------------------------------


class Engine:
    """The dev workspace indexed by LocalGPT with one chunking; searches with any settings."""

    def __init__(self, dev: DevSet, config: Config, embedder: Embedder) -> None:
        self.dev, self.config, self.embedder = dev, config, embedder
        self.index = MemoryIndex(config, embedder)
        started = time.perf_counter()
        self.report = self.index.sync()
        self.index_seconds = time.perf_counter() - started
        self.current: list[date] = [date.today()]

    def run(self, with_at5: bool = True, time_ranking: bool = True, **memory) -> Outcome:
        config = self.config.memory.__class__(**{**self.config.memory.__dict__, **memory})
        search = MemorySearch(self.index.conn, self.embedder, config, today=lambda: self.current[0])
        if not time_ranking:
            search.understand_time = False
        search.search("warm-up")
        outcome = Outcome()
        for question in self.dev.questions:
            self.current[0] = self.dev.today[question["conv"]]
            response = search.search(question["question"], limit=50)
            spans = [(r.path, r.start_line, r.end_line) for r in response.results]
            outcome.budget.append(self.dev.hit(question, spans)[0])
            outcome.ms.append(response.took_ms)
            if with_at5:
                top = search.search(question["question"], limit=5).results
                spans = [(r.path, r.start_line, r.end_line) for r in top]
                outcome.at5.append(self.dev.covers(question, spans))
        return outcome


def make_config(home: Path, workspace: Path, embedding: dict, chunking: tuple[int, int]) -> Config:
    os.environ.update(LOCALGPT_HOME=str(home), LOCALGPT_WORKSPACE=str(workspace))
    config = load_config()
    for key, value in embedding.items():
        setattr(config.embedding, key, value)
    config.memory.chunk_tokens, config.memory.context_blocks = chunking
    return config


# -- the 50-line baseline (a reference row) --------------------------------------------


def baseline(dev: DevSet, embedder: Embedder) -> Outcome:
    """Line chunks of ~600 chars, 120 overlap; each chunk's indexed and embedded text starts
    with its day's heading; porter FTS5, stop-words dropped, terms OR-ed; RRF k=10."""
    chunks: list[tuple[str, int, int, str]] = []  # path, start, end, text with heading
    for path, lines in sorted(dev.lines.items()):
        body, heading = [], ""
        for number, line in enumerate(lines, start=1):
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            elif line.strip():
                body.append((number, line, heading))
        start = 0
        while start < len(body):
            end, size = start, 0
            while end < len(body) and (size == 0 or size + len(body[end][1]) <= 600):
                size, end = size + len(body[end][1]) + 1, end + 1
            window = body[start:end]
            text = window[0][2] + "\n" + "\n".join(line for _, line, _ in window)
            chunks.append((path, window[0][0], window[-1][0], text))
            if end >= len(body):
                break
            back, carried = end, 0
            while back - 1 > start and carried + len(body[back - 1][1]) <= 120:
                carried, back = carried + len(body[back - 1][1]) + 1, back - 1
            start = back
    conn = apsw.Connection(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(body, tokenize='porter unicode61')")
    for n, (_, _, _, text) in enumerate(chunks):
        conn.execute("INSERT INTO f(rowid, body) VALUES (?, ?)", (n, text))
    vectors = embedder.embed([c[3] for c in chunks])
    outcome = Outcome()
    for question in dev.questions:
        started = time.perf_counter()
        expression = terms_expression(query_terms(question["question"]))
        found = conn.execute(
            "SELECT rowid FROM f WHERE f MATCH ? ORDER BY rank LIMIT 200", (expression,)
        )
        keyword = [rowid for (rowid,) in found]
        sims = vectors @ embedder.embed_query(question["question"])
        meaning = [int(i) for i in np.argsort(-sims)[:200]]
        fused: dict[int, float] = defaultdict(float)
        for ranking in (keyword, meaning):
            for rank, n in enumerate(ranking, start=1):
                fused[n] += 1 / (10 + rank)
        order = sorted(fused, key=lambda n: -fused[n])
        outcome.ms.append((time.perf_counter() - started) * 1000)
        spans = [chunks[n][:3] for n in order]
        outcome.budget.append(dev.hit(question, spans)[0])
        outcome.at5.append(dev.covers(question, spans[:5]))
    return outcome


# -- the cross-check --------------------------------------------------------------------------


def two_way(
    dev: DevSet, results: dict[tuple, Outcome], default: tuple, one_se: bool
) -> tuple[float, dict[str, tuple]]:
    """Choose the settings on each conversation, score them on the other(s): the hits of both
    directions over all questions (each question is scored once, by settings chosen without
    it). `one_se`: the one-standard-error rule (keep the defaults unless another setting beats
    them by more than one standard error of the tuning half's recall); else plain argmax."""
    hits, chosen = 0, {}
    for tuned_on in dev.convs:
        size = sum(q["conv"] == tuned_on for q in dev.questions)
        best = max(results, key=lambda key: (dev.recall(results[key], tuned_on), key == default))
        top = dev.recall(results[best], tuned_on)
        error = math.sqrt(top * (1 - top) / size)
        if one_se and dev.recall(results[default], tuned_on) >= top - error:
            best = default
        chosen[tuned_on] = best
        for hit, question in zip(results[best].budget, dev.questions, strict=True):
            if question["conv"] != tuned_on:
                hits += hit
    return hits / len(dev.questions), chosen


def describe(key: tuple) -> str:
    chunk_tokens, context_blocks, rrf_k, time_ranking = key
    time_words = "on" if time_ranking else "off"
    return (
        f"chunk_tokens={chunk_tokens} context_blocks={context_blocks} rrf_k={rrf_k:g}"
        f" time_ranking={time_words}"
    )


def row(dev: DevSet, name: str, outcome: Outcome) -> str:
    parts = [f"{name:<34}"]
    for conv in dev.convs:
        parts.append(f"{conv} {dev.recall(outcome, conv):.3f}")
    parts.append(f"all {dev.recall(outcome):.3f}")
    if outcome.at5:
        parts.append(f"recall@5 {dev.recall(outcome, at5=True):.3f}")
    if outcome.ms:
        parts.append(f"p50 {statistics.median(outcome.ms):.1f} ms")
    return "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    parser.add_argument("--quick", action="store_true", help="the defaults only, no cross-check")
    parser.add_argument("--by-category", action="store_true")
    parser.add_argument("--served-api-base", help="also measure a served (OpenAI API) model")
    parser.add_argument("--served-model", default="multilingual-e5-small-q4")
    parser.add_argument("--served-query-prefix", default="")
    parser.add_argument("--served-document-prefix", default="")
    args = parser.parse_args()

    dev = DevSet(args.eval_dir)
    local = {"model_path": args.model_path}
    counts = ", ".join(f"{c}: {sum(q['conv'] == c for q in dev.questions)}" for c in dev.convs)
    print(f"questions: {len(dev.questions)} ({counts}); budget {BUDGET_CHARS} chars")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        default_chunking = (CHUNK_TOKENS[0], CONTEXT_BLOCKS[0])
        embedder = Embedder(
            make_config(tmp_path / "h0", dev.workspace, local, default_chunking).embedding
        )
        print(row(dev, "reference: 50-line baseline", baseline(dev, embedder)), flush=True)

        engines: dict[tuple[int, int], Engine] = {}

        def engine(chunking: tuple[int, int], embedding: dict | None = None, tag="") -> Engine:
            home = tmp_path / f"h-{chunking[0]}-{chunking[1]}-{tag}"
            config = make_config(home, dev.workspace, embedding or local, chunking)
            return Engine(dev, config, Embedder(config.embedding) if embedding else embedder)

        first = engines[default_chunking] = engine(default_chunking)
        report = first.report
        print(
            f"LocalGPT index: {report.chunks_written} chunks from {report.files_indexed} files "
            f"in {first.index_seconds:.1f} s (chunk_tokens={default_chunking[0]}, "
            f"context_blocks={default_chunking[1]})"
        )
        default_key = (*default_chunking, RRF_K[0], TIME_RANKING[0])
        default = first.run(rrf_k=RRF_K[0])
        print(row(dev, "LocalGPT defaults", default), flush=True)
        if args.by_category:
            by_cat: dict[int, list[bool]] = defaultdict(list)
            for question, hit in zip(dev.questions, default.budget, strict=True):
                by_cat[question["category"]].append(hit)
            for category, hits in sorted(by_cat.items()):
                print(f"  category {category}: {sum(hits) / len(hits):.3f} (n={len(hits)})")
        if args.quick:
            return

        results: dict[tuple, Outcome] = {default_key: default}
        for chunking in ((t, c) for t in CHUNK_TOKENS for c in CONTEXT_BLOCKS):
            if chunking not in engines:
                engines[chunking] = engine(chunking)
            for rrf_k in RRF_K:
                for time_ranking in TIME_RANKING:
                    key = (*chunking, rrf_k, time_ranking)
                    if key not in results:
                        results[key] = engines[chunking].run(
                            with_at5=False, time_ranking=time_ranking, rrf_k=rrf_k
                        )
            if chunking != default_chunking:
                engines.pop(chunking).index.conn.close()
        for one_se, label in ((True, "one-standard-error rule"), (False, "plain argmax")):
            figure, chosen = two_way(dev, results, default_key, one_se)
            headline = "TWO-WAY recall@budget" if one_se else "two-way, argmax instead"
            print(f"\n{headline}: {figure:.3f}  (chosen on one conversation by the {label}, "
                  "scored on the other)")  # fmt: skip
            for tuned_on, key in chosen.items():
                others = [c for c in dev.convs if c != tuned_on]
                scored = ", ".join(f"{c} {dev.recall(results[key], c):.3f}" for c in others)
                print(f"  chosen on {tuned_on}: {describe(key)} -> scored on {scored}")
        print("  every setting (recall@budget per conversation):")
        for key, outcome in sorted(results.items(), key=lambda kv: -dev.recall(kv[1])):
            print("   ", row(dev, describe(key), outcome))

        recent = first.run(with_at5=True, recency_half_life_days=30.0)
        print()
        print(row(dev, "recency on (30-day half-life)", recent))

        options: list[tuple[str, dict]] = []
        if FP32_MODEL.is_dir():
            options.append(("option: fp32 MiniLM", {"model_path": str(FP32_MODEL)}))
        if args.served_api_base:
            served = {
                "provider": "openai",
                "model": args.served_model,
                "api_base": args.served_api_base,
                "query_prefix": args.served_query_prefix,
                "document_prefix": args.served_document_prefix,
                "model_path": "",
            }
            options.append((f"option: served {args.served_model}", served))
        for n, (name, embedding) in enumerate(options):
            option = engine(default_chunking, embedding, tag=f"o{n}")
            outcome = option.run()
            print(row(dev, name, outcome) + f"  (indexing {option.index_seconds:.1f} s)")


if __name__ == "__main__":
    main()
