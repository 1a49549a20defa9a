"""Provenance in ranking: the user's own note must rank above the assistant's paraphrase of it.

The reported defect: heartbeat output in the daily log ("Heartbeat alert: your dentist
appointment ...") scored 0.98 for "dentist appointment", above the user's real note at 0.94.
Each case here is a user's note (in a daily log, MEMORY.md or knowledge/) and the assistant's
paraphrase of it, written a few days later through the real daily-log writer (so it is marked
as the assistant's and is the more recent of the two), then asked by two or three questions.

It prints, for each question, the ranks of the user's note and of the paraphrase, with the
provenance weights on (the shipped ranking) and off (every weight 1.0, the ranking before this
change), and the share of questions where the user's note comes first.

    python bench/provenance.py [--model-path DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.config import load_config  # noqa: E402
from shared.memory import Memory, provenance  # noqa: E402
from shared.memory.embedder import Embedder  # noqa: E402
from shared.memory.writes import append_daily_entry  # noqa: E402
from shared.workspace import init_home  # noqa: E402

DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx-int8"
TODAY = date(2026, 11, 30)
ZONE = ZoneInfo("Europe/Paris")

# A user's note sits among other lines of the day, as in a real log (the chunk it is in is
# longer and less focused than the assistant's one-topic paraphrase).
FILLER = [
    "- Groceries: oat milk, lemons, rice.",
    "- Call the bank about the card limit.",
    "- Read two chapters of the novel.",
]

# (user's file, user's note, the assistant's paraphrase, questions)
CASES = [
    (
        "memory/2026-11-20.md",
        "- Dentist appointment moved to Friday 27th at 9:30, Dr Laurent.",
        "Heartbeat alert: dentist appointment reminder. Your dentist appointment is on Friday "
        "at 9:30 with Dr Laurent. Dentist appointment Friday 9:30. Do not forget the dentist "
        "appointment with Dr Laurent.",
        ["dentist appointment", "when is the dentist", "Dr Laurent"],
    ),
    (
        "MEMORY.md",
        "- Allergic to penicillin (found out in 2019).",
        "The user is allergic to penicillin, as they found out in 2019.",
        ["penicillin allergy", "what am I allergic to"],
    ),
    (
        "knowledge/car.md",
        "The car's tyres were changed at 84,000 km; next check at 100,000 km.",
        "Tyres: changed at 84,000 km. The next tyre check is due at 100,000 km.",
        ["when are the tyres due", "tyre check km"],
    ),
    (
        "memory/2026-11-18.md",
        "- Mum's birthday dinner: Saturday 5 December at Chez Marcel, booked for 6.",
        "You booked Chez Marcel for mum's birthday dinner on Saturday 5 December, a table for 6.",
        ["mum's birthday dinner", "restaurant for the birthday", "Chez Marcel booking"],
    ),
    (
        "memory/2026-11-21.md",
        "- The wifi password for the cabin is on the fridge, it is 'pinecone-42'.",
        "Noted: the cabin wifi password is pinecone-42 (it is written on the fridge).",
        ["cabin wifi password", "wifi at the cabin"],
    ),
    (
        "knowledge/work.md",
        "Quarterly report for Acme is due on 15 December; Sara reviews it first.",
        "Reminder: the Acme quarterly report is due 15 December and Sara reviews it first.",
        ["Acme report deadline", "who reviews the quarterly report"],
    ),
    (
        "MEMORY.md",
        "- Prefers window seats on trains; never book the quiet coach.",
        "User preference: window seats on trains, and never the quiet coach.",
        ["train seat preference", "quiet coach"],
    ),
    (
        "memory/2026-11-22.md",
        "- Plumber (Marco, 06 12 34 56 78) comes Tuesday morning to fix the boiler.",
        "The plumber Marco (06 12 34 56 78) is coming Tuesday morning to fix the boiler.",
        ["plumber boiler", "when does the plumber come", "Marco's number"],
    ),
]


def build(home: Path, model_path: str) -> tuple[Memory, dict[int, str]]:
    """The workspace: each user's note, then each paraphrase written by the assistant (one a
    day after 2026-11-25, newer than every user's note)."""
    os.environ.update(LOCALGPT_HOME=str(home), LOCALGPT_EMBEDDING_MODEL_PATH=model_path)
    os.environ.pop("LOCALGPT_WORKSPACE", None)
    config = load_config()
    init_home(config)
    (config.workspace_dir / "MEMORY.md").write_text("# Memory\n\n", encoding="utf-8")
    for path, note, _, _ in CASES:
        target = config.workspace_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.read_text(encoding="utf-8") if target.exists() else f"# {target.stem}\n\n"
        lines = [FILLER[0], note, *FILLER[1:]] if note.startswith("- ") else [note]
        target.write_text(old + "\n".join(lines) + "\n\n", encoding="utf-8")
    written: dict[int, str] = {}
    for number, (_, _, paraphrase, _) in enumerate(CASES):
        when = datetime(2026, 11, 25, 8, 0, tzinfo=ZONE) + timedelta(days=number % 5, hours=number)
        written[number] = append_daily_entry(config, paraphrase, when, session="bench").path
    memory = Memory(config, Embedder(config.embedding))
    memory.sync()
    memory._search.today = lambda: TODAY  # noqa: SLF001 (the clock of the dates in the notes)
    return memory, written


def ranks(memory: Memory, question: str, user_path: str, note: str, ai_path: str, key: str):
    """1-based ranks of the user's note and of the paraphrase (None when not in the top 20)."""
    results = memory.search(question, 20).results
    user = ai = None
    for rank, hit in enumerate(results, start=1):
        if user is None and hit.path == user_path and note[:30] in hit.snippet:
            user = rank
        if ai is None and hit.path == ai_path and key in hit.snippet:
            ai = rank
    return user, ai


def measure(memory: Memory, written: dict[int, str]) -> list[tuple[str, int | None, int | None]]:
    rows = []
    for number, (path, note, paraphrase, questions) in enumerate(CASES):
        for question in questions:
            user, ai = ranks(memory, question, path, note, written[number], paraphrase[:30])
            rows.append((question, user, ai))
    return rows


def first(user: int | None, ai: int | None) -> bool:
    return user is not None and (ai is None or user < ai)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        memory, written = build(Path(tmp), args.model_path)
        shipped = measure(memory, written)
        weights = dict(provenance.RANK_WEIGHT)
        provenance.RANK_WEIGHT.update({key: 1.0 for key in weights})
        flat = measure(memory, written)
        provenance.RANK_WEIGHT.update(weights)
        memory.close()
    print(f"weights: {weights}; mode: hybrid; recency half-life on, today {TODAY}")
    print(f"{'question':<34} {'weights on (user, ai)':>22} {'weights off (user, ai)':>23}")
    for (question, user, ai), (_, flat_user, flat_ai) in zip(shipped, flat, strict=True):
        print(f"{question:<34} {f'{user}, {ai}':>22} {f'{flat_user}, {flat_ai}':>23}")
    on = sum(first(u, a) for _, u, a in shipped)
    off = sum(first(u, a) for _, u, a in flat)
    print(f"user's note first: weights on {on}/{len(shipped)}, weights off {off}/{len(flat)}")


if __name__ == "__main__":
    main()
