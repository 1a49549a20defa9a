"""The API bearer token: generated on first start into `$LOCALGPT_HOME/token` (mode 0600)."""

from __future__ import annotations

import fcntl
import hmac
import os
import secrets
from pathlib import Path

from shared.config import Config
from shared.durable import atomic_write


def token_path(config: Config) -> Path:
    return config.token_file


def ensure_token(config: Config) -> str:
    """Read the token, creating it (readable by the owner only) if there is none yet.

    The file appears whole or not at all (`atomic_write`), and under a lock, so two processes
    starting together agree on one token (and an empty file, left by an older version's crash,
    is replaced)."""
    path = token_path(config)
    token = _read(path)
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(path.with_name(".token.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        token = _read(path)
        if not token:
            token = secrets.token_urlsafe(32)
            atomic_write(path, token + "\n", mode=0o600)
        return token
    finally:
        os.close(lock)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def read_token(config: Config) -> str:
    return token_path(config).read_text(encoding="utf-8").strip()


def token_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison, so timing does not leak the token. An empty token matches
    nothing."""
    return bool(expected) and hmac.compare_digest(expected.encode(), presented.encode())
