"""Answer quality and speed: the LoCoMo dev set asked through the real API and embedded model.

Copies the dev workspace (../shared/eval/locomo-dev, read at run time, never stored in the repo)
into a temporary home, indexes it, starts `localgpt run llm` and `localgpt run api` as real
processes, and asks every question through `POST /api/chat/stream`, one new session each. It
scores each answer against the gold answer with LoCoMo's token F1 (the dev set's README rules)
and prints:

  - token F1 by category and overall, per conversation and for both;
  - the share of answers citing an evidence file, and the retrieval recall of the same questions
    (an evidence line among the recalled sources), so a bad answer can be told apart from a
    missed retrieval;
  - degenerate or echoed answers (cut by the reply guard, or showing prompt scaffolding), and
    replies shown as no answer (they only talked about the prompt, twice);
  - time to first token and whole reply (p50, p95), prompt tokens per question;
  - the model server's prompt-processing speed (tokens/s), probed with fresh long prompts.

    python bench/answers.py [--limit N] [--conv conv-26] [--show 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.agent.assistant import NO_ANSWER_NOTICE  # noqa: E402
from shared.agent.guard import LINE_SCAFFOLDING, SCAFFOLDING  # noqa: E402
from shared.config import LOCAL_LLM_MODEL, load_config  # noqa: E402
from shared.memory import Memory  # noqa: E402
from shared.memory.embedder import Embedder  # noqa: E402

DEFAULT_EVAL = ROOT.parent / "shared" / "eval" / "locomo-dev"
DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2-onnx-int8"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
CITATION = re.compile(r"([\w\-./]+\.md)#L\d+(?:-L\d+)?")


@dataclass
class Answer:
    question: dict
    text: str = ""
    stopped: str = ""
    notice: str = ""
    sources: list[dict] = field(default_factory=list)
    ttft: float = float("nan")  # seconds from the request to the first text
    total: float = float("nan")
    prompt_tokens: int = 0
    error: str = ""


# -- LoCoMo's answer scoring (the dev set's README) ------------------------------------------


def normalise(text: str) -> list[str]:
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in string.punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalise(prediction), normalise(gold)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def score(prediction: str, gold: str, category: int) -> float:
    """Multi-hop gold answers are split on commas: the mean of each part's best F1."""
    prediction = CITATION.sub("", prediction)  # citations are not part of the answer's words
    if category == 1:
        parts, golds = prediction.split(","), str(gold).split(",")
        return sum(max(token_f1(p, g) for p in parts) for g in golds) / len(golds)
    return token_f1(prediction, gold)


# -- running the system ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"`localgpt {' '.join(args)}` exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.terminate()
    sys.exit(f"`localgpt {' '.join(args)}` was not ready in 180 s; see {log}")


def ask(api: str, token: str, question: dict) -> Answer:
    answer = Answer(question)
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"message": question["question"]}
    try:
        with httpx.stream(
            "POST", f"{api}/api/chat/stream", json=body, headers=headers, timeout=600
        ) as response:
            if response.status_code != 200:
                answer.error = f"HTTP {response.status_code}: {response.read()[:200]!r}"
                return answer
            event = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "delta" and answer.ttft != answer.ttft:
                        answer.ttft = time.perf_counter() - started
                    elif event == "done":
                        answer.text = data["response"]
                        answer.stopped = data.get("stopped", "")
                        answer.notice = data.get("notice", "")
                        answer.sources = data.get("sources", [])
                        answer.prompt_tokens = data.get("usage", {}).get("prompt_tokens", 0)
                    elif event == "error":
                        answer.error = data.get("message", "error")
    except httpx.HTTPError as exc:
        answer.error = f"{type(exc).__name__}: {exc}"
    answer.total = time.perf_counter() - started
    return answer


# Prompt sizes probed: the prompts (1,650-2,700 tokens) and this bench's (~300).
PROBE_NOTES = {"long (~2,000 tokens)": 120, "short (~300 tokens)": 16}


def probe_prompt_speed(llm: str, notes: int, rounds: int = 3) -> list[float]:
    """Prompt-processing tokens/s: a fresh prompt of `notes` short lines, one token generated."""
    speeds = []
    for i in range(rounds):
        words = ("lamp", "book", "plant", "clock", "mug") * (notes // 5)
        filler = " ".join(f"note {i}-{n}: the {w} was moved to shelf {n % 7}." for n, w in
                          enumerate(words))  # fmt: skip
        body = {
            "model": LOCAL_LLM_MODEL,
            "messages": [{"role": "user", "content": filler + "\nWhich shelf has the lamp?"}],
            "max_tokens": 1,
            "temperature": 0,
        }
        started = time.perf_counter()
        reply = httpx.post(f"{llm}/v1/chat/completions", json=body, timeout=600).json()
        seconds = time.perf_counter() - started
        timings = reply.get("timings") or {}
        if timings.get("prompt_per_second"):
            speeds.append(float(timings["prompt_per_second"]))
        else:
            speeds.append(reply["usage"]["prompt_tokens"] / seconds)
    return speeds


# -- report ----------------------------------------------------------------------------------


def cites_evidence(answer: Answer) -> bool:
    cited = set(CITATION.findall(answer.text))
    return any(e["path"] in cited for e in answer.question["evidence"])


def recalled_evidence(answer: Answer) -> bool:
    return any(
        s["path"] == e["path"] and s["start_line"] <= e["line"] <= s["end_line"]
        for s in answer.sources
        for e in answer.question["evidence"]
    )


def no_answer(answer: Answer) -> bool:
    """Only talk about the prompt, twice: shown as no answer, with a notice and the sources."""
    return answer.stopped == "guard" and answer.notice == NO_ANSWER_NOTICE


def degenerate(answer: Answer) -> bool:
    if answer.stopped == "guard":
        return not no_answer(answer)
    lines = answer.text.split("\n")
    return any(m in answer.text for m in SCAFFOLDING) or any(
        line.lstrip(" -*>").startswith(LINE_SCAFFOLDING) for line in lines
    )


def pct(values: list[float], q: float) -> float:
    clean = sorted(v for v in values if v == v)
    if not clean:
        return float("nan")
    return clean[min(len(clean) - 1, int(round(q * (len(clean) - 1))))]


def report(
    answers: list[Answer], speeds: dict[str, list[float]], loads: tuple[float, float]
) -> None:
    print(
        f"embedded model {LOCAL_LLM_MODEL} through POST /api/chat/stream; {os.cpu_count()} cores; "
        f"load average {loads[0]:.2f} before, {loads[1]:.2f} after"
    )
    print(f"questions: {len(answers)}  (errors: {sum(1 for a in answers if a.error)})")
    convs = sorted({a.question["conv"] for a in answers})
    header = f"{'token F1':<14}" + "".join(f"{c:>10}" for c in convs) + f"{'all':>10}"
    print(header)
    for cat, name in [*CATEGORIES.items(), (0, "overall")]:
        row = f"{name:<14}"
        for group in [*convs, None]:
            chosen = [
                a
                for a in answers
                if (group is None or a.question["conv"] == group)
                and (cat == 0 or a.question["category"] == cat)
            ]
            f1 = [score(a.text, a.question["answer"], a.question["category"]) for a in chosen]
            row += f"{statistics.mean(f1):>10.3f}" if f1 else f"{'-':>10}"
        print(row)
    n = len(answers)
    print(f"answers citing an evidence file:  {sum(map(cites_evidence, answers)) / n:.1%}")
    print(f"evidence among recalled sources:  {sum(map(recalled_evidence, answers)) / n:.1%}")
    print(f"degenerate or echoed answers:     {sum(map(degenerate, answers))}")
    print(f"no answer (marked, sources shown): {sum(map(no_answer, answers))}")
    cut = sum(1 for a in answers if a.stopped == "length")
    print(f"cut at the token limit:           {cut}")
    ttft = [a.ttft for a in answers]
    total = [a.total for a in answers]
    tokens = [a.prompt_tokens for a in answers if a.prompt_tokens]
    print(f"first token:  p50 {pct(ttft, 0.5):.2f} s   p95 {pct(ttft, 0.95):.2f} s")
    print(f"whole reply:  p50 {pct(total, 0.5):.2f} s   p95 {pct(total, 0.95):.2f} s")
    if tokens:
        print(
            f"prompt tokens per question: median {statistics.median(tokens):.0f}, "
            f"p95 {pct(tokens, 0.95):.0f}"
        )
    for size, measured in speeds.items():
        print(
            f"model server prompt processing, {size}: "
            + ", ".join(f"{s:.0f}" for s in measured)
            + f" tokens/s (median {statistics.median(measured):.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--model-path", default=str(DEFAULT_MODEL))
    parser.add_argument("--limit", type=int, default=0, help="ask N questions, evenly spread")
    parser.add_argument("--conv", default="", help="only this conversation (e.g. conv-26)")
    parser.add_argument("--show", type=int, default=0, help="print N answers next to the gold")
    parser.add_argument("--json", type=Path, help="write every answer to this file")
    args = parser.parse_args()

    questions = [json.loads(line) for line in (args.eval_dir / "qa.jsonl").open()]
    if args.conv:
        questions = [q for q in questions if q["conv"] == args.conv]
    if args.limit and args.limit < len(questions):
        step = len(questions) / args.limit  # an even spread over the file's categories
        questions = [questions[int(i * step)] for i in range(args.limit)]

    tmp = Path(tempfile.mkdtemp(prefix="localgpt-bench-answers-"))
    home, workspace = tmp / "home", tmp / "workspace"
    shutil.copytree(args.eval_dir / "workspace", workspace)  # a throw-away copy, deleted below
    api_port, llm_port = free_port(), free_port()
    env = {
        **os.environ,
        "LOCALGPT_HOME": str(home),
        "LOCALGPT_WORKSPACE": str(workspace),
        "LOCALGPT_EMBEDDING_MODEL_PATH": args.model_path,
        "LOCALGPT_PORT": str(api_port),
        "LOCALGPT_LOCAL_LLM_PORT": str(llm_port),
        "LOCALGPT_QUERY_SERVICE_WAIT": "0",  # no worker here: the API encodes queries itself
        # The embedded model, whatever else this machine has (an Ollama, a cloud key).
        "LOCALGPT_LLM_MODEL": f"local/{LOCAL_LLM_MODEL}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": "json",
    }
    os.environ.update({k: env[k] for k in ("LOCALGPT_HOME", "LOCALGPT_WORKSPACE")})
    os.environ["LOCALGPT_EMBEDDING_MODEL_PATH"] = args.model_path
    config = load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    memory = Memory(config, Embedder(config.embedding))
    memory.sync()
    memory.close()

    procs = []
    try:
        llm = f"http://127.0.0.1:{llm_port}"
        api = f"http://127.0.0.1:{api_port}"
        procs.append(start(["run", "llm"], env, f"{llm}/health", tmp / "llm.log"))
        procs.append(start(["run", "api"], env, f"{api}/health", tmp / "api.log"))
        token = (home / "token").read_text().strip()
        ask(api, token, {"question": "Hello", "evidence": []})  # warm-up, not counted
        loads_before = os.getloadavg()[0]
        answers = []
        for number, question in enumerate(questions, start=1):
            answers.append(ask(api, token, question))
            if number % 10 == 0:
                print(f"{number}/{len(questions)} asked", file=sys.stderr, flush=True)
        speeds = {size: probe_prompt_speed(llm, notes) for size, notes in PROBE_NOTES.items()}
        report(answers, speeds, (loads_before, os.getloadavg()[0]))
        for a in answers[: args.show]:
            f1 = score(a.text, a.question["answer"], a.question["category"])
            print(f"\n[{f1:.2f}] {a.question['question']}\n  gold:   {a.question['answer']}")
            print(f"  answer: {a.text or a.error} {('(' + a.notice + ')') if a.notice else ''}")
        if args.json:
            args.json.write_text(
                json.dumps([a.__dict__ for a in answers], ensure_ascii=False, indent=1)
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
