"""One desktop window per LocalGPT home: a lock file held for as long as the window is open.

The lock is an `flock` on `run/desktop.lock`, so it goes with the process however that ends (a
crash or `kill -9` leaves no stale lock to clean up). The file also names the holder's pid for
the message a second `localgpt desktop` prints. The open window listens on `run/desktop.sock`;
a second start asks it to come to the front there instead of opening another window.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

FOCUS_REQUEST = b"focus\n"
FOCUS_DONE = b"ok\n"


class AlreadyOpen(Exception):
    """Another `localgpt desktop` holds the lock of this home."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"a LocalGPT window is already open (pid {pid or 'unknown'})")
        self.pid = pid


class InstanceLock:
    """The lock file; `acquire` raises AlreadyOpen while another process holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not inherited by the services this process starts (os.open is non-inheritable), so
        # the lock never outlives the window.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyOpen(pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Unlock (the file stays: unlinking a lock file races with the next acquirer)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


def request_focus(socket_path: Path, timeout: float = 3.0) -> bool:
    """Ask the open window to come to the front; False when it does not answer in time."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        try:
            conn.connect(str(socket_path))
            conn.sendall(FOCUS_REQUEST)
            return conn.recv(len(FOCUS_DONE)) == FOCUS_DONE
        except OSError:
            return False
