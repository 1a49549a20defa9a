"""CLI start-up times (issue 20), next to the figures the issue measured before.

Makes a fresh home with a few indexed notes, times each command (median of N runs, wall clock,
and the CPU it used) with the system down, then starts the API and a worker (`localgpt run api`
and `run worker`) and times the commands that talk to them. The machine is shared: the load
average is printed with the results, and CPU time is the steadier figure under load.

    python bench/cli.py [--runs 7] [--model-path DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.index import DEFAULT_MODEL  # noqa: E402

NOTES = {
    "memory/2026-11-20.md": "# 20 November\n\n- Built the fence around the vegetable garden.\n",
    "memory/2026-11-21.md": "# 21 November\n\n- Booked the ferry to Hydra for the 14th.\n",
    "MEMORY.md": "# Memory\n\n- The plumber is Nikos; he prefers a call in the morning.\n",
}
QUERY = "where did I build the fence"


@dataclass
class Case:
    label: str
    args: list[str]
    before: str  # as measured in issue 20
    goal: float | None  # seconds, wall clock
    env: str = "home"  # which environment: "home", or "no-model" (no model files at all)


DOWN = [
    Case("--help", ["--help"], "1.36-1.49 s", 0.4),
    Case("config show", ["config", "show"], "1.4-1.7 s", 0.4),
    Case("status (system down)", ["status"], "1.5-2.1 s", 0.4),
    Case("task list (system down)", ["task", "list"], "1.4-2.0 s", 0.4),
    Case("memory search (no worker)", ["memory", "search", QUERY], "2.4-3.2 s", None),
    Case(
        "memory search (no model anywhere)",
        ["memory", "search", QUERY],
        "hung 40 s",
        2.0,
        env="no-model",
    ),
    Case("ask (model server down)", ["ask", "hello"], "8.6 s", None),
]
UP = [
    Case("status (system running)", ["status"], "1.5-2.1 s", 0.4),
    Case("task list (system running)", ["task", "list"], "1.4-2.0 s", 0.4),
    Case("memory search (system running)", ["memory", "search", QUERY], "2.4-3.2 s", 0.5),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def localgpt() -> list[str]:
    """The installed `localgpt` script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("localgpt")
    return [str(script)] if script.exists() else [sys.executable, "-m", "shared.cli"]


def make_home(root: Path, model_path: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    home = root / "home"
    home.mkdir()
    api_port, closed_port = free_port(), free_port()  # nothing will listen on closed_port
    (home / "config.toml").write_text(
        f"[server]\nport = {api_port}\n[local_llm]\nport = {closed_port}\n"
    )
    base = {**os.environ, "LOCALGPT_HOME": str(home), "OLLAMA_HOST": "127.0.0.1:9"}
    base["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    for name in ("LOCALGPT_WORKSPACE", "LOCALGPT_EMBEDDING_MODEL", "LOG_LEVEL"):
        base.pop(name, None)
    no_model = {k: v for k, v in base.items() if k != "LOCALGPT_EMBEDDING_MODEL_PATH"}
    env = {**base, "LOCALGPT_EMBEDDING_MODEL_PATH": str(model_path)}
    subprocess.run([*localgpt(), "init"], env=env, check=True, capture_output=True)
    workspace = home / "workspace"
    for rel, text in NOTES.items():
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    subprocess.run([*localgpt(), "memory", "reindex"], env=env, check=True, capture_output=True)
    return home, {"home": env, "no-model": no_model}


def time_case(case: Case, envs: dict[str, dict[str, str]], runs: int) -> tuple[list, list]:
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [*localgpt(), *case.args], env=envs[case.env], capture_output=True, timeout=120
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return walls, cpus


def start_system(home: Path, env: dict[str, str]) -> list[subprocess.Popen]:
    """The API and one worker, as `honcho start` runs them; returns once the worker serves
    query vectors and the API answers /health."""
    logs = home / "bench-logs"
    logs.mkdir()
    procs = []
    for service in ("api", "worker"):
        out = open(logs / f"{service}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append(
            subprocess.Popen(
                [*localgpt(), "run", service], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        )
    port = int((home / "config.toml").read_text().split("port = ")[1].split()[0])
    deadline = time.monotonic() + 120
    while True:
        worker_log = (logs / "worker.log").read_text(errors="replace")
        if "query_service_ready" in worker_log and _healthy(port):
            return procs
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop_system(procs)
            raise SystemExit(f"the system did not start; see {logs}")
        time.sleep(0.2)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_system(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def report(case: Case, walls: list[float], cpus: list[float]) -> str:
    median = statistics.median(walls)
    verdict = "" if case.goal is None else ("ok" if median <= case.goal else "OVER")
    goal = f"<= {case.goal:.1f} s" if case.goal is not None else "-"
    return (
        f"{case.label:<36} {case.before:>12} {median:>8.2f} s "
        f"({min(walls):.2f}-{max(walls):.2f}) {statistics.median(cpus):>7.2f} s  "
        f"{goal:>9} {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (median)")
    parser.add_argument("--model-path", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    if not (args.model_path / "model.onnx").is_file():
        raise SystemExit(f"no embedding model at {args.model_path} (--model-path)")
    root = Path(tempfile.mkdtemp(prefix="localgpt-bench-cli-"))
    try:
        home, envs = make_home(root, args.model_path)
        print(f"localgpt CLI start-up, median of {args.runs} runs ({localgpt()[0]})")
        print(f"{'command':<36} {'before':>12} {'now (min-max)':>22} {'CPU':>9}  {'goal':>9}")
        for case in DOWN:
            print(report(case, *time_case(case, envs, args.runs)), flush=True)
        procs = start_system(home, envs["home"])
        try:
            for case in UP:
                print(report(case, *time_case(case, envs, args.runs)), flush=True)
        finally:
            stop_system(procs)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average at the end: {load} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
