"""Embedded model speed: the whole LocalGPT stack next to the raw llama.cpp server, same run.

Starts `localgpt run llm` (llama.cpp behind the OpenAI-compatible server) as a real process,
then alternates, round by round, three ways of asking it the same kind of question:

  raw server   one streamed HTTP request with the assistant's messages (no litellm, no agent)
  litellm      the same messages through LLMClient (litellm's openai provider, streaming)
  assistant    a full turn: prompt assembly from the workspace, litellm, session transcript

It prints the median time to first token and decode speed (tokens/s after the first token)
of each, and the ratios against the raw server (goal: >= 0.9x). Every round uses a new
question so the answer is really generated; the system prompt prefix stays cached in
llama.cpp for all three alike.

    python bench/llm.py [--rounds 5] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.agent.assistant import Assistant  # noqa: E402
from shared.agent.llm import LLMClient  # noqa: E402
from shared.agent.loop import TurnEvents  # noqa: E402
from shared.agent.session import SessionStore  # noqa: E402
from shared.config import LOCAL_LLM_MODEL, load_config  # noqa: E402
from shared.workspace import init_home  # noqa: E402

TOPICS = (
    "a lighthouse",
    "a lost key",
    "a rainy market",
    "an old piano",
    "a night train",
    "a garden robot",
    "a paper boat",
    "a mountain hut",
    "a quiet library",
    "a red kite",
)


@dataclass
class Sample:
    ttft: float  # seconds to the first text token
    tokens: int  # text deltas received
    decode: float  # seconds from the first to the last token

    @property
    def rate(self) -> float:
        return (self.tokens - 1) / self.decode if self.tokens > 1 and self.decode > 0 else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "run", "llm"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            sys.exit(f"the model server exited with code {proc.returncode}")
    proc.terminate()
    sys.exit("the model server did not become ready in 120 s")


def raw_request(port: int, messages: list[dict], max_tokens: int) -> Sample:
    body = {
        "model": LOCAL_LLM_MODEL,
        "messages": messages,
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": 0.0,
    }
    started = time.perf_counter()
    first = last = None
    tokens = 0
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with httpx.stream("POST", url, json=body, timeout=600) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                last = time.perf_counter()
                first = first or last
                tokens += 1
    return _sample(started, first, last, tokens)


class Timer:
    """Token callback recording when text arrives."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None
        self.tokens = 0

    def __call__(self, _text: str) -> None:
        self.last = time.perf_counter()
        self.first = self.first or self.last
        self.tokens += 1

    def sample(self) -> Sample:
        return _sample(self.started, self.first, self.last, self.tokens)


def _sample(started: float, first: float | None, last: float | None, tokens: int) -> Sample:
    if first is None or last is None:
        return Sample(float("nan"), 0, 0.0)
    return Sample(first - started, tokens, last - first)


def question(round_no: int, kind: str) -> str:
    topic = TOPICS[(round_no * 3 + {"raw": 0, "litellm": 1, "assistant": 2}[kind]) % len(TOPICS)]
    return f"Write a short story of about 150 words about {topic}. ({kind} #{round_no})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="localgpt-bench-llm-"))
    port = free_port()
    env = {
        **os.environ,
        "LOCALGPT_HOME": str(tmp / "home"),
        "LOCALGPT_LOCAL_LLM_PORT": str(port),
        # The embedded model, whatever else this machine has (an Ollama, a cloud key).
        "LOCALGPT_LLM_MODEL": f"local/{LOCAL_LLM_MODEL}",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(
        {k: env[k] for k in ("LOCALGPT_HOME", "LOCALGPT_LOCAL_LLM_PORT", "LOCALGPT_LLM_MODEL")}
    )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    config = load_config()
    init_home(config)
    config.llm.max_tokens = args.max_tokens
    config.llm.temperature = 0.0
    config.agent.auto_recall = 0  # the same messages on every path: no memory search
    server = start_server(env, port)
    try:
        results = run_rounds(config, port, args.rounds, args.max_tokens)
    finally:
        server.terminate()
        server.wait(10)
    report(results, args)


def run_rounds(config, port: int, rounds: int, max_tokens: int) -> dict[str, list[Sample]]:
    bot = Assistant.open(config)
    client = LLMClient(config)
    store = SessionStore(config.sessions_dir)
    results: dict[str, list[Sample]] = {"raw": [], "litellm": [], "assistant": []}

    def messages_for(text: str) -> list[dict]:
        system = bot._system(bot.ctx.now())  # the exact system prompt the assistant sends
        return [system, {"role": "user", "content": text}]

    # Warm-up (not counted): loads litellm, evaluates the system prompt once into the cache.
    raw_request(port, messages_for("Say hi."), 4)
    client.complete(messages_for("Say hi."), on_token=Timer())
    for round_no in range(rounds):
        order = ["raw", "litellm", "assistant"]
        if round_no % 2:
            order.reverse()  # cancel drift (other load on the machine) between paths
        for kind in order:
            text = question(round_no, kind)
            if kind == "raw":
                results[kind].append(raw_request(port, messages_for(text), max_tokens))
            elif kind == "litellm":
                timer = Timer()
                client.complete(messages_for(text), on_token=timer)
                results[kind].append(timer.sample())
            else:
                bot.session = store.create(bot.client.model, config.workspace_dir)  # no history
                timer = Timer()
                bot.send(text, TurnEvents(on_token=timer))
                results[kind].append(timer.sample())
        print(f"round {round_no + 1}/{rounds} done", file=sys.stderr, flush=True)
    bot.close()
    return results


def report(results: dict[str, list[Sample]], args: argparse.Namespace) -> None:
    """Medians, and the best round of each path (the least disturbed by other load)."""
    raw = results["raw"]
    raw_ttft, raw_rate = _median([s.ttft for s in raw]), _median([s.rate for s in raw])
    best_raw_ttft, best_raw_rate = _best(raw)
    print(
        f"embedded model: {LOCAL_LLM_MODEL} (llama.cpp), {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    print(f"rounds: {args.rounds}, max_tokens: {args.max_tokens}")
    print(
        f"{'path':<12}{'median TTFT':>12}{'median tok/s':>13}{'tok/s vs raw':>13}"
        f"{'best TTFT':>11}{'best tok/s':>11}{'best vs raw':>12}"
    )
    for kind, label in (("raw", "raw server"), ("litellm", "litellm"), ("assistant", "assistant")):
        ttft, rate = (
            _median([s.ttft for s in results[kind]]),
            _median([s.rate for s in results[kind]]),
        )
        best_ttft, best_rate = _best(results[kind])
        print(
            f"{label:<12}{ttft * 1000:>10.0f}ms{rate:>13.1f}{rate / raw_rate:>12.2f}x"
            f"{best_ttft * 1000:>9.0f}ms{best_rate:>11.1f}{best_rate / best_raw_rate:>11.2f}x"
        )
    overhead = {
        k: (_median([s.ttft for s in results[k]]) - raw_ttft) * 1000
        for k in ("litellm", "assistant")
    }
    print(
        f"TTFT overhead vs raw (median): litellm {overhead['litellm']:+.0f} ms, "
        f"assistant {overhead['assistant']:+.0f} ms"
    )


def _median(values: list[float]) -> float:
    clean = [v for v in values if v == v]
    return statistics.median(clean) if clean else float("nan")


def _best(samples: list[Sample]) -> tuple[float, float]:
    ttfts = [s.ttft for s in samples if s.ttft == s.ttft]
    return (min(ttfts) if ttfts else float("nan")), max((s.rate for s in samples), default=0.0)


if __name__ == "__main__":
    main()
