"""The whole system under honcho: start-up time and memory per process.

Starts `honcho start` from the repo (the real Procfile) against a fresh home, measures the time
until every service is healthy (API /health "ok", every other service's ready line), then drops
a corpus of about 10,000 chunks into the workspace, waits until it is indexed, sends the API 200
searches, and prints each process's resident memory and whether it loaded the embedding runtime.

    python bench/system.py [--files 3300] [--model-path DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.index import DEFAULT_MODEL, WORDS, write_corpus  # noqa: E402

READY_EVENTS = {
    "worker": "worker_ready",
    "indexer": "indexer_ready",
    "heartbeat": "heartbeat_ready",
    "llm": "Uvicorn running on",  # uvicorn has bound the port
}


def procfile_services() -> list[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages (libraries mapped by several processes) split."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def loaded_onnx(pid: int) -> bool:
    return "onnxruntime" in Path(f"/proc/{pid}/maps").read_text(errors="replace")


def health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return json.loads(response.read())
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=3300)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    args = parser.parse_args()
    services = procfile_services()
    port = 31400 + os.getpid() % 500
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "LOCALGPT_HOME": home,
            "LOCALGPT_PORT": str(port),
            "LOCALGPT_EMBEDDING_MODEL_PATH": args.model_path,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        env.pop("LOCALGPT_WORKSPACE", None)
        pids: dict[str, int] = {}
        ready: dict[str, float] = {}
        started = time.perf_counter()
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

        def pump() -> None:
            for line in honcho.stdout:
                name, _, rest = line.partition("|")
                service = name.split()[-1].split(".")[0] if name.split() else ""
                if "started (pid=" in rest:
                    service = rest.split()[0].split(".")[0]
                    pids[service] = int(rest.split("pid=")[1].split(")")[0])
                elif READY_EVENTS.get(service, "\0") in rest:
                    ready.setdefault(service, time.perf_counter() - started)

        threading.Thread(target=pump, daemon=True).start()
        try:
            while True:
                body = health(port)
                if body and body["status"] == "ok":
                    ready.setdefault("api", time.perf_counter() - started)
                if all(s in ready for s in services):
                    break
                if time.perf_counter() - started > 120:
                    raise SystemExit(f"not all services became healthy: {sorted(ready)}")
                time.sleep(0.05)
            startup = max(ready.values())
            workspace = Path(home) / "workspace"
            write_corpus(workspace / "bench", args.files)
            chunks = wait_indexed(port, Path(home) / "token", args.files)
            searched = search_a_while(port, Path(home) / "token")
            print(
                f"honcho start -> all {len(services)} services healthy: {startup:.2f} s "
                f"({', '.join(f'{s} {ready[s]:.2f} s' for s in services)})"
            )
            print(
                f"after indexing {chunks:,} chunks and serving {searched} searches, "
                "resident memory per process:"
            )
            for service in services:
                pid = pids[service]
                print(
                    f"  {service:<10} {rss_mb(pid):7.1f} MB   (PSS {pss_mb(pid):6.1f} MB)   "
                    f"embedding runtime loaded: {'yes' if loaded_onnx(pid) else 'no'}"
                )
        finally:
            os.killpg(honcho.pid, signal.SIGINT)
            honcho.wait(20)


def api_get(port: int, token: str, path: str, **params: object) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}{query}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def search_a_while(port: int, token_file: Path, count: int = 200) -> int:
    """Searches through the API, so its memory includes what serving them holds."""
    token = token_file.read_text().strip()
    for n in range(count):
        api_get(port, token, "/api/memory/search", q=f"{WORDS[n % len(WORDS)]} {n}", limit=6)
    return count


def wait_indexed(port: int, token_file: Path, files: int) -> int:
    token = token_file.read_text().strip()
    while True:
        stats = api_get(port, token, "/api/memory/stats")
        if (
            stats["files_indexed"] >= files
            and stats["files_pending"] == 0
            and not stats["jobs"].get("queued")
            and not stats["jobs"].get("running")
            and stats["chunks_without_vector"] == 0
        ):
            return stats["chunks"]
        time.sleep(1)


if __name__ == "__main__":
    main()
