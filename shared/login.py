"""One-time login codes: `localgpt open` writes one, the web page trades it once for the token.

The code lives in `$LOCALGPT_HOME/login-code` (mode 0600) with a short expiry. Only the newest
code is valid (a new `localgpt open` replaces the file). Exchanging claims the file by an atomic
rename, so of two concurrent exchanges exactly one wins, and a used code is gone for good.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from shared.config import Config

CODE_TTL_SECONDS = 120
MAX_CODE_CHARS = 200


def code_path(config: Config) -> Path:
    return config.login_code_file


def issue_code(config: Config, ttl: float = CODE_TTL_SECONDS) -> str:
    """Write a fresh code (replacing any earlier one) readable by the owner only."""
    code = secrets.token_urlsafe(32)
    path = code_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".login-code.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"code": code, "expires_at": time.time() + ttl}, handle)
    os.replace(tmp, path)
    return code


def redeem_code(config: Config, presented: str) -> bool:
    """True once for the current unexpired code; False for anything else. Never raises."""
    if not presented or len(presented) > MAX_CODE_CHARS:
        return False
    path = code_path(config)
    if not _matches(_read(path), presented):
        return False
    claimed = path.with_name(f".login-code.{secrets.token_hex(6)}.used")
    try:
        os.rename(path, claimed)  # atomic: one caller gets the file, the others FileNotFoundError
    except FileNotFoundError:
        return False
    try:
        stored = _read(claimed)
    finally:
        with contextlib.suppress(FileNotFoundError):
            claimed.unlink()
    # Re-check what was claimed: `localgpt open` may have replaced the file in between.
    return _matches(stored, presented) and stored.get("expires_at", 0) > time.time()


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _matches(stored: dict, presented: str) -> bool:
    code = stored.get("code")
    if not isinstance(code, str):
        return False
    return hmac.compare_digest(code.encode(), presented.encode())
