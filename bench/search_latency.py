"""Search latency in-process at about 20,000 chunks: the default search, no reranker.

Builds (or reuses, with `--home`) an index of generated notes, the same corpus and query mix as
`bench/api.py`, then times single searches one after another in this process, as the API's
threads run them: in-memory vectors (`VectorMatrix`), shared common-term cache, one BLAS thread.
Three rounds: query vectors cached (what `bench/api.py` measures), query vectors computed for
each search (a new question), and with a date filter. Repeat runs: the machine is shared.

    python bench/search_latency.py [--files 6700] [--home DIR] [--rounds 3] [--model-path DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import kept_or_temporary, percentile, queries  # noqa: E402
from bench.index import DEFAULT_MODEL, write_corpus  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.memory import CommonTerms, Memory, VectorMatrix, make_embedder  # noqa: E402
from shared.memory.vector_matrix import single_threaded_blas  # noqa: E402
from shared.workspace import init_home  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=6700)
    parser.add_argument("--home", type=Path, help="keep the home and its index here")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    args = parser.parse_args()
    single_threaded_blas()
    with kept_or_temporary(args.home) as home:
        os.environ.update(LOCALGPT_HOME=home, LOCALGPT_EMBEDDING_MODEL_PATH=args.model_path)
        os.environ.pop("LOCALGPT_WORKSPACE", None)
        config = load_config()
        init_home(config)
        corpus = config.workspace_dir / "bench"
        if not corpus.is_dir():
            write_corpus(corpus, args.files)
            # Two thirds are daily logs: dated names over two years, for the date filter.
            for n, path in enumerate(sorted((corpus / "memory").rglob("*.md"))):
                day = date.fromordinal(date(2025, 1, 1).toordinal() + n % 730)
                path.rename(path.with_name(f"{day.isoformat()}-{path.name}"))
        started = time.perf_counter()
        memory = Memory(config, make_embedder(config))
        report = memory.sync()
        chunks = memory.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        print(
            f"index: {chunks:,} chunks ({report.chunks_written:,} written now) "
            f"in {time.perf_counter() - started:.0f} s"
        )
        memory.close()

        query_embedder = make_embedder(config, for_queries=True)  # the API's lean encoder
        searcher = Memory(config, query_embedder, VectorMatrix(), CommonTerms())
        mix = queries(files=args.files)
        for query in mix:  # warm: vectors loaded, query vectors cached
            searcher.search(query)
        for round_ in range(1, args.rounds + 1):
            warm = [searcher.search(q).took_ms for q in mix]
            cold = []
            for n, query in enumerate(mix):  # a new question each time: the encoder runs
                cold.append(searcher.search(f"{query} note{round_}x{n}").took_ms)
            filtered = [searcher.search(q, after=date(2026, 1, 1)).took_ms for q in mix]
            for name, values in (
                ("cached query vector", warm),
                ("new query (encoder runs)", cold),
                ("with --after filter", filtered),
            ):
                print(
                    f"round {round_}: {name:<26} p50 {statistics.median(values):5.1f} ms"
                    f"  p95 {percentile(values, 0.95):5.1f} ms  ({len(values)} searches)"
                )
        searcher.close()


if __name__ == "__main__":
    main()
