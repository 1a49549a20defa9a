"""The API bearer token: generated on first start into `$LOCALGPT_HOME/token` (mode 0600)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from shared.config import Config


def token_path(config: Config) -> Path:
    return config.home / "token"


def ensure_token(config: Config) -> str:
    """Read the token, creating it (readable by the owner only) if there is none yet."""
    path = token_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = read_token(config)
        if token:
            return token
        return _replace_empty_token(path)  # a crash between creating and writing it
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return read_token(config)


def _replace_empty_token(path: Path) -> str:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    os.replace(staging, path)
    return path.read_text(encoding="utf-8").strip()


def read_token(config: Config) -> str:
    return token_path(config).read_text(encoding="utf-8").strip()


def token_matches(expected: str, presented: str) -> bool:
    """Constant-time comparison, so timing does not leak the token. An empty token matches
    nothing."""
    return bool(expected) and hmac.compare_digest(expected.encode(), presented.encode())
