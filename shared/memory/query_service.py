"""Query vectors served by a worker over a local socket, so the API needs no model of its own.

A worker already holds the embedding model. One worker at a time (the one holding
`data/run/query-embedder.lock`) also answers "embed this query" on a Unix socket in the private
`data/run/` folder (mode 0700). The API asks it first and loads its own lean encoder only when no
worker answers: about 65 MB less in the API, and one model in memory instead of two.

Wire format, both ways: a 4-byte big-endian length, then that many bytes. On connect the server
sends its model identity (`name@fingerprint`); a client configured for another model hangs up,
so vectors of two models never mix. Each request is a UTF-8 query; each reply is a status byte
(`+` float32 vector, `-` UTF-8 error) followed by the payload.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.config import Config
from shared.logs import get_logger

log = get_logger("query-service")

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
MAX_QUERY_BYTES = 64 * 1024
CONNECT_TIMEOUT = 0.5
REPLY_TIMEOUT = 5.0  # the worker's query encoder is its own: slower means a starved worker
RETRY_SECONDS = 5.0  # a worker that is not serving checks again whether it should
BACK_OFF_SECONDS = 30.0  # after a slow or failed answer, or another model: ask again later
GONE_BACK_OFF_SECONDS = 1.0  # after the worker hung up (a restart): a new one may serve soon
_LENGTH = struct.Struct(">I")


def run_dir(config: Config) -> Path:
    return config.query_service_dir


def socket_path(config: Config) -> Path | None:
    """Where the service listens; None when the home's path is too long for a Unix socket."""
    path = run_dir(config) / "query-embedder.sock"
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


class ProtocolError(Exception):
    pass


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LENGTH.pack(len(payload)) + payload)


def _receive(sock: socket.socket, limit: int) -> bytes:
    (length,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is over the limit of {limit}")
    return _exactly(sock, length)


def _exactly(sock: socket.socket, count: int) -> bytes:
    chunks, missing = [], count
    while missing:
        chunk = sock.recv(missing)
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class QueryEmbeddingServer:
    """Runs in a worker: serves `embed_query` while this process holds the service lock."""

    def __init__(self, config: Config, identity: str, embed_query: Callable[[str], np.ndarray]):
        self.config, self.identity, self.embed_query = config, identity, embed_query
        self.retry_seconds = RETRY_SECONDS
        self._stop = threading.Event()
        self._state = threading.Lock()  # guards the three below, shared with stop()
        self._listener: socket.socket | None = None
        self._lock_fd: int | None = None
        self._connections: set[socket.socket] = set()

    def start(self, ready: Callable[[], bool]) -> None:
        """Serve from a daemon thread once `ready()` (the model loaded) says so."""
        threading.Thread(target=self._run, args=(ready,), name="query-service", daemon=True).start()

    @property
    def serving(self) -> bool:
        return self._listener is not None

    def stop(self) -> None:
        """Stop listening, hang up on clients (they fall back) and let another worker serve."""
        self._stop.set()
        with self._state:
            listener, self._listener = self._listener, None
            if listener is not None:
                for conn in [listener, *self._connections]:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() or recv()
                    conn.close()
                self._connections.clear()
                path = socket_path(self.config)
                if path is not None:
                    path.unlink(missing_ok=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock, last: the socket is gone by then
                self._lock_fd = None

    def _run(self, ready: Callable[[], bool]) -> None:
        path = socket_path(self.config)
        if path is None or not ready():
            log.info(
                "query_service_off", reason="socket path too long" if path is None else "no model"
            )
            return
        try:
            listener = self._listen(path)
        except OSError as exc:  # the API then embeds its queries itself
            log.warning("query_service_off", reason=f"{exc.__class__.__name__}: {exc}")
            self.stop()
            return
        if listener is not None:
            self._accept(listener)

    def _listen(self, path: Path) -> socket.socket | None:
        """Wait for the service lock (another worker may hold it), then bind; None if stopped."""
        lock = _private_lock(run_dir(self.config))
        while not self._stop.is_set():
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # another worker serves; take over if it stops
                self._stop.wait(self.retry_seconds)
            except OSError:
                os.close(lock)
                raise
        with self._state:
            if self._stop.is_set():
                os.close(lock)
                return None
            self._lock_fd = lock
            path.unlink(missing_ok=True)  # left by a worker that was killed
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(str(path))
                listener.listen(16)
            except OSError:
                listener.close()
                raise
            self._listener = listener
        log.info("query_service_ready", socket=str(path))
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError as exc:
                if not self._stop.is_set():  # let another worker serve rather than hang clients
                    log.warning("query_service_failed", error=f"{exc.__class__.__name__}: {exc}")
                    self.stop()
                return
            with self._state:
                if self._listener is None:  # stopped meanwhile
                    conn.close()
                    return
                self._connections.add(conn)
            try:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
            except RuntimeError:  # no more threads: this client falls back
                self._hang_up(conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            _send(conn, self.identity.encode())
            while True:
                query = _receive(conn, MAX_QUERY_BYTES).decode("utf-8", errors="replace")
                try:
                    reply = b"+" + np.asarray(self.embed_query(query), np.float32).tobytes()
                except Exception as exc:  # the client falls back to its own encoder
                    reply = b"-" + f"{exc.__class__.__name__}: {exc}".encode()
                _send(conn, reply)
        except (OSError, ProtocolError):
            pass  # the client went away, or stop() hung up
        finally:
            self._hang_up(conn)

    def _hang_up(self, conn: socket.socket) -> None:
        with self._state:
            self._connections.discard(conn)
        conn.close()


def _private_lock(directory: Path) -> int:
    """The lock file's descriptor, in a folder only this user can enter (the socket's too)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return os.open(directory / "query-embedder.lock", os.O_RDWR | os.O_CREAT, 0o600)


class QueryEmbeddingClient:
    """Used by the API: one connection per thread, reopened after any failure."""

    def __init__(self, config: Config, identity: str) -> None:
        self.path, self.identity = socket_path(config), identity
        self._local = threading.local()
        self._skip_until = 0.0  # after a failure: the API uses its own model meanwhile

    def embed(self, query: str) -> np.ndarray | None:
        """The worker's vector for `query`, or None when no worker answers (or it failed).

        A connection the worker closed (it stopped, or restarted and serves on a new socket)
        is replaced at once, once; only a slow or failing worker is left alone for a while."""
        payload = query.encode("utf-8")
        if len(payload) > MAX_QUERY_BYTES:
            return None
        for attempt in (1, 2):
            conn = self._connection()
            if conn is None:
                return None
            try:
                _send(conn, payload)
                reply = _receive(conn, 1 << 20)
            except TimeoutError:
                self._back_off("timed out", BACK_OFF_SECONDS)
                return None
            except (OSError, ProtocolError) as exc:  # hung up: try a fresh connection once
                self._drop()
                if attempt == 2:
                    self._back_off(f"{exc.__class__.__name__}: {exc}", GONE_BACK_OFF_SECONDS)
                    return None
                continue
            if reply[:1] != b"+":
                self._back_off(reply[1:].decode(errors="replace"), BACK_OFF_SECONDS)
                return None
            return np.frombuffer(reply[1:], dtype=np.float32).copy()
        return None

    def _back_off(self, error: str, seconds: float) -> None:
        """A worker that failed or was too slow is not asked for a while, so `reachable()`
        says no and the API loads its own model rather than wait on it search after search."""
        self._drop()
        self._skip_until = time.monotonic() + seconds
        log.warning("query_service_failed", error=error, retry_in_s=seconds)

    def reachable(self) -> bool:
        return self._connection() is not None

    def _connection(self) -> socket.socket | None:
        conn = getattr(self._local, "conn", None)
        if conn is not None or self.path is None or time.monotonic() < self._skip_until:
            return conn
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(CONNECT_TIMEOUT)  # for the handshake too: a hung worker is skipped
            conn.connect(str(self.path))
            identity = _receive(conn, 4096).decode(errors="replace")
            conn.settimeout(REPLY_TIMEOUT)
        except (OSError, ProtocolError):
            conn.close()
            return None
        if identity != self.identity:
            conn.close()
            self._skip_until = time.monotonic() + BACK_OFF_SECONDS
            log.warning("query_service_other_model", served=identity, configured=self.identity)
            return None
        self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


def wait_until_reachable(client: QueryEmbeddingClient, seconds: float) -> bool:
    if client.path is None:
        return False  # no worker can serve on this home: do not wait for one
    deadline = time.monotonic() + seconds
    while True:
        if client.reachable():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
