"""Indexing throughput: end-to-end reindex vs fastembed alone on the same chunks, same run.

Generates a corpus of markdown files (unique text, so the embedding cache cannot help), runs a
full reindex into a fresh memory DB, then embeds exactly the same chunk texts with fastembed
directly, and finally times a reindex with nothing changed.

    python bench/index.py [--files 2000] [--model-path DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.config import load_config  # noqa: E402
from shared.memory import Memory, make_embedder  # noqa: E402
from shared.memory.chunker import chunk_markdown  # noqa: E402
from shared.memory.index import embed_text  # noqa: E402
from shared.workspace import init_home  # noqa: E402

DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx-int8"
WORDS = [
    "garden",
    "project",
    "meeting",
    "budget",
    "kayak",
    "recipe",
    "travel",
    "sister",
    "deadline",
    "review",
    "code",
    "server",
    "coffee",
    "running",
    "marathon",
    "doctor",
    "insurance",
    "invoice",
    "camera",
    "lens",
    "painting",
    "guitar",
    "lesson",
    "school",
    "tax",
    "return",
    "plan",
    "idea",
    "bug",
    "release",
    "migration",
    "database",
    "backup",
    "laptop",
    "phone",
    "call",
    "birthday",
    "gift",
    "flight",
    "hotel",
    "museum",
    "concert",
    "novel",
    "chapter",
    "draft",
    "weekly",
    "summary",
    "goal",
    "habit",
]


def write_corpus(workspace: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(files):
        folder = workspace / ("memory" if i % 3 else "knowledge") / f"batch{i % 20:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"# Note {i}: {' '.join(rng.sample(WORDS, 3))}", ""]
        for section in range(rng.randint(1, 3)):
            lines += [f"## Section {section} {rng.choice(WORDS)}", ""]
            for _ in range(rng.randint(2, 6)):
                words = [rng.choice(WORDS) for _ in range(rng.randint(8, 30))]
                lines.append(f"- item {rng.randrange(10**6)}: {' '.join(words)}.")
            lines.append("")
        (folder / f"note-{i:05d}.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(LOCALGPT_HOME=home, LOCALGPT_EMBEDDING_MODEL_PATH=args.model_path)
        config = load_config()
        init_home(config)
        write_corpus(config.workspace_dir, args.files)
        embedder = make_embedder(config)
        embedder.embed(["warm-up"])  # load the model outside both timings

        memory = Memory(config, embedder)
        report = memory.sync()
        e2e_rate = report.chunks_written / report.seconds

        texts = []
        for path in sorted(config.workspace_dir.rglob("*.md")):
            rel = path.relative_to(config.workspace_dir).as_posix()
            for chunk in chunk_markdown(
                path.read_text(encoding="utf-8"), config.memory.chunk_tokens
            ):
                texts.append(embed_text(rel, chunk))
        model = embedder._load()  # fastembed's TextEmbedding, called directly
        batch = config.embedding.batch_size
        started = time.perf_counter()
        list(model.embed(texts, batch_size=batch))
        raw_seconds = time.perf_counter() - started
        raw_rate = len(texts) / raw_seconds
        started = time.perf_counter()
        list(model.embed(sorted(texts, key=len), batch_size=batch))
        sorted_rate = len(texts) / (time.perf_counter() - started)

        noop = memory.sync()

    print(f"corpus:               {report.files_indexed} files, {report.chunks_written} chunks")
    print(f"end-to-end reindex:   {report.seconds:.1f} s = {e2e_rate:.1f} chunks/s")
    print(
        f"fastembed raw:        {raw_seconds:.1f} s = {raw_rate:.1f} chunks/s ({len(texts)} chunks)"
    )
    print(f"fastembed raw, texts pre-sorted by length: {sorted_rate:.1f} chunks/s")
    print(
        f"end-to-end / raw:     {e2e_rate / raw_rate:.2f}x "
        f"(vs pre-sorted raw: {e2e_rate / sorted_rate:.2f}x)"
    )
    print(
        f"no-change reindex:    {noop.seconds:.2f} s "
        f"({noop.files_unchanged} files unchanged, {noop.files_indexed} re-indexed)"
    )


if __name__ == "__main__":
    main()
