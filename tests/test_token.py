"""The API token: created once, private, never empty, compared in constant time."""

from __future__ import annotations

import stat

from shared.token import ensure_token, token_matches, token_path


def test_the_token_is_created_once_and_private(config):
    token = ensure_token(config)
    assert len(token) >= 40 and ensure_token(config) == token
    assert stat.S_IMODE(token_path(config).stat().st_mode) == 0o600


def test_an_empty_token_file_is_replaced_not_trusted(config):
    """A crash between creating the file and writing it must not leave an empty token, which
    an empty `Authorization: Bearer` header would match."""
    token_path(config).parent.mkdir(parents=True, exist_ok=True)
    token_path(config).write_text("\n")
    token = ensure_token(config)
    assert len(token) >= 40 and token_path(config).read_text().strip() == token
    assert stat.S_IMODE(token_path(config).stat().st_mode) == 0o600


def test_an_empty_token_matches_nothing():
    assert not token_matches("", "")
    assert token_matches("abc", "abc") and not token_matches("abc", "abd")


def test_processes_starting_together_agree_on_one_token(config):
    """Each caller returns what the file holds; the file is never seen empty or partial."""
    from concurrent.futures import ThreadPoolExecutor

    token_path(config).unlink(missing_ok=True)
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: ensure_token(config), range(32)))
    assert tokens == {token_path(config).read_text().strip()}
