"""Search under load: `GET /api/memory/search` over HTTP vs the same search in-process.

Builds an index of about 20,000 chunks, starts the real API (`localgpt run api`), then runs the
same query mix for the same duration and concurrency two ways: through HTTP (asyncio clients
with keep-alive), and in-process (threads calling the search directly, one DB connection
each). The two alternate in 5-second rounds. Each side first runs the mix once, unmeasured, so
both are measured warm (query vectors cached, in-memory vectors loaded). Prints p50/p99 latency
and requests/s for both.

    python bench/api.py [--files 6700] [--clients 8] [--seconds 30] [--model-path DIR]
                        [--home DIR] [--api-from CHECKOUT]

`--home DIR` keeps the home (and its index) in DIR, so a second run skips the ~5 minute build.
`--api-from CHECKOUT` runs the API from another checkout of this repo (say a `git worktree` of an
older commit), with this tree's client and in-process side: runs of two servers taken in turns
compare them under the same load of this shared machine, which one run alone cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.index import DEFAULT_MODEL, WORDS, write_corpus  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.memory import CommonTerms, Memory, VectorMatrix, make_embedder  # noqa: E402
from shared.memory.vector_matrix import single_threaded_blas  # noqa: E402
from shared.workspace import init_home  # noqa: E402

ROUND_SECONDS = 5.0


def queries(count: int = 200, seed: int = 3, files: int = 6700) -> list[str]:
    """2-5 corpus words; every fourth query also names a note number (a rare term).

    The corpus draws from 50 words, so each word is in about two thirds of all chunks: BM25
    gives such words no weight, and the keyword leg only does real work for the rare term."""
    rng = random.Random(seed)
    mix = []
    for n in range(count):
        words = rng.sample(WORDS, rng.randint(2, 5))
        if n % 4 == 0:
            words.insert(rng.randint(0, len(words)), str(rng.randrange(files)))
        mix.append(" ".join(words))
    return mix


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class KeepAliveClient:
    """A minimal HTTP/1.1 keep-alive client for GET requests.

    Client and server share this machine's cores, so a heavy client takes CPU from the server
    it measures: httpx used 1.5-2.5 ms of CPU per request here, this client about 0.25 ms (on
    uvloop, with orjson). It still checks every response: status 200, a Content-Length body,
    JSON with `results`."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()

    def request_bytes(self, path: str, **params: object) -> bytes:
        return f"GET {path}?{urllib.parse.urlencode(params)} HTTP/1.1\r\n".encode() + self.head

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, request: bytes) -> dict:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = {k.lower(): v for k, v in headers.items()}.get("content-length")
        if length is None:
            raise RuntimeError(f"no Content-Length in the response: {head!r}")
        body = orjson.loads(await self.reader.readexactly(int(length)))
        if status != 200 or "results" not in body:
            raise RuntimeError(f"HTTP {status}: {body}")
        return body

    def close(self) -> None:
        self.writer.close()


async def http_load(
    port: int, token: str, mix: list[str], clients: int, seconds: float
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client(offset: int) -> None:
        client = KeepAliveClient("127.0.0.1", port, token)
        requests = [client.request_bytes("/api/memory/search", q=q, limit=6) for q in mix]
        await client.connect()
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await client.get(requests[i % len(requests)])
            latencies.append(time.perf_counter() - started)
            i += clients
        client.close()

    await asyncio.gather(*(one_client(n) for n in range(clients)))
    return latencies


def run_client(load: Coroutine[Any, Any, list[float]]) -> list[float]:
    """The load on uvloop where it is installed (the server runs on it too), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(load)
    return uvloop.run(load)


class InProcessLoad:
    """The API's search setup without HTTP: a connection per thread, shared vectors and
    common-term answers, the same (lean) query encoder."""

    def __init__(self, config, embedder, mix: list[str], clients: int) -> None:
        self.mix, self.clients = mix, clients
        vectors, common_terms = VectorMatrix(), CommonTerms()
        single_threaded_blas()
        self.memories = [Memory(config, embedder, vectors, common_terms) for _ in range(clients)]
        for query in mix:  # warm: vectors loaded, query vectors cached
            self.memories[0].search(query, 6)

    def run(self, seconds: float) -> list[float]:
        latencies: list[float] = []
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def one_client(offset: int) -> None:
            memory, i, mine = self.memories[offset], offset, []
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                memory.search(self.mix[i % len(self.mix)], 6)
                mine.append(time.perf_counter() - started)
                i += self.clients
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=one_client, args=(n,)) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return latencies

    def close(self) -> None:
        for memory in self.memories:
            memory.close()


@contextlib.contextmanager
def kept_or_temporary(path: Path | None) -> Iterator[str]:
    if path is None:
        with tempfile.TemporaryDirectory() as home:
            yield home
    else:
        path.mkdir(parents=True, exist_ok=True)
        yield str(path.resolve())


def report(name: str, latencies: list[float], seconds: float) -> tuple[float, float]:
    p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
    print(
        f"{name:<12} {len(latencies):6d} requests  {len(latencies) / seconds:7.1f} req/s  "
        f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
    )
    return p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=6700)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--model-path", default=os.environ.get("LOCALGPT_EMBEDDING_MODEL_PATH", str(DEFAULT_MODEL))
    )
    parser.add_argument("--home", type=Path, help="keep the home and its index here")
    parser.add_argument("--api-from", type=Path, default=ROOT, help="checkout to run the API from")
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with kept_or_temporary(args.home) as home:
        os.environ.update(
            LOCALGPT_HOME=home,
            LOCALGPT_EMBEDDING_MODEL_PATH=args.model_path,
            LOCALGPT_PORT=str(port),
            LOCALGPT_QUERY_SERVICE_WAIT="0",  # no worker runs here: the API loads its model
        )
        os.environ.pop("LOCALGPT_WORKSPACE", None)
        config = load_config()
        init_home(config)
        if not (config.workspace_dir / "bench").is_dir():
            write_corpus(config.workspace_dir / "bench", args.files)
        embedder = make_embedder(config)
        indexer = Memory(config, embedder)
        report_ = indexer.sync()
        indexer.close()
        print(
            f"index: {report_.chunks_written:,} chunks from {report_.files_indexed:,} files "
            f"({report_.seconds:.0f} s)"
        )
        api = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "run", "api"],
            cwd=args.api_from,
            env={**os.environ, "PYTHONPATH": str(args.api_from.resolve())},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    if httpx.get(base + "/health").json()["status"] == "ok":
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline:
                    raise SystemExit("the API did not become healthy")
                time.sleep(0.2)
            token = (Path(home) / "token").read_text().strip()
            mix = queries(files=args.files)
            print(
                f"{args.clients} concurrent clients, {args.seconds:.0f} s each side in "
                f"{ROUND_SECONDS:.0f} s rounds, {len(mix)} distinct queries"
            )
            warm_up = [
                httpx.get(
                    f"{base}/api/memory/search",
                    params={"q": q, "limit": 6},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                )
                for q in mix
            ]
            assert all(r.status_code == 200 for r in warm_up)
            local_load = InProcessLoad(
                config, make_embedder(config, for_queries=True), mix, args.clients
            )
            # The sides alternate in short rounds, so a busy neighbour on this shared machine
            # slows both alike rather than whichever side it happened to overlap.
            rounds = max(1, round(args.seconds / ROUND_SECONDS))
            http, local, client_cpu = [], [], 0.0
            for _ in range(rounds):
                cpu_before = time.process_time()
                http += run_client(http_load(port, token, mix, args.clients, args.seconds / rounds))
                client_cpu += time.process_time() - cpu_before
                local += local_load.run(args.seconds / rounds)
            local_load.close()
        finally:
            api.terminate()
            api.wait(10)
    client_cpu_ms = client_cpu / max(1, len(http)) * 1000
    http_p50, http_p99 = report("HTTP", http, args.seconds)
    local_p50, local_p99 = report("in-process", local, args.seconds)
    print(f"(the HTTP load client used {client_cpu_ms:.2f} ms of CPU per request)")
    print(
        f"HTTP / in-process: p50 {http_p50 / local_p50:.2f}x, p99 {http_p99 / local_p99:.2f}x,"
        f" throughput {len(local) / max(1, len(http)):.2f}x fewer requests over HTTP"
    )


if __name__ == "__main__":
    main()
