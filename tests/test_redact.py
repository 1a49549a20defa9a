"""Secrets are masked by key name, by shape and by exact value; ordinary fields stay readable."""

from __future__ import annotations

import os
import time

import pytest

from shared.redact import MASK, TokenFile, is_sensitive_key, redact_text, redact_value

ANTHROPIC = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 3
OPENAI = "sk-proj-" + "Zz09Yy18Xx27Ww36Vv45Uu54"


@pytest.mark.parametrize(
    "key",
    ["api_key", "apiKey", "OPENAI_API_KEY", "x-api-key", "token", "access_token", "Authorization",
     "password", "client_secret", "secret", "Cookie", "credentials", "private_key"],
)  # fmt: skip
def test_credential_names_are_sensitive(key):
    assert is_sensitive_key(key)


@pytest.mark.parametrize(
    "key",
    ["max_tokens", "prompt_tokens", "chunk_tokens", "task_id", "path", "session_id", "job_id",
     "keyword_weight", "key_count", "author"],
)  # fmt: skip
def test_ordinary_names_are_not(key):
    assert not is_sensitive_key(key)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"calling anthropic with {ANTHROPIC} now", ANTHROPIC),
        (f"key={OPENAI}", OPENAI),
        ("Authorization: Bearer abc.DEF-123_456~xyz", "abc.DEF-123_456~xyz"),
        ("GET /health?api_key=hunter2hunter2&q=x HTTP/1.1", "hunter2hunter2"),
        ('{"password": "correct horse"}', "horse"),
        ("login with password='two words' ok", "words"),
        ("github ghp_" + "a" * 36, "ghp_" + "a" * 36),
        ("aws AKIAABCDEFGHIJKLMNOP here", "AKIAABCDEFGHIJKLMNOP"),
        ("hf token hf_" + "q" * 34, "hf_" + "q" * 34),
    ],
)
def test_key_shapes_inside_text_are_masked(text, secret):
    masked = redact_text(text)
    assert secret not in masked
    assert MASK in masked


def test_exact_token_is_masked_anywhere():
    token = "Qm9vLXRva2VuLXZhbHVl_x-Z"
    assert redact_text(f"path /api/x?t={token}&u={token}", exact=token) == (
        f"path /api/x?t={MASK}&u={MASK}"
    )


def test_ordinary_text_is_untouched():
    text = "indexed notes/sk-notes.md with 12 tokens; max_tokens=300 task=abc"
    assert redact_text(text, exact="zzzzzzzzzzzz") == text


def test_values_are_walked_without_touching_the_original():
    event = {
        "event": f"using {ANTHROPIC}",
        "headers": {"Authorization": "Bearer whatever-long-token", "Accept": "*/*"},
        "api_key": 12345,
        "token": None,
        "items": [{"secret": "s3cr3t"}, ("tuple", OPENAI)],
        "max_tokens": 300,
        "path": "notes/a.md",
    }
    out = redact_value(event)
    assert out["event"] == f"using {MASK}"
    assert out["headers"] == {"Authorization": MASK, "Accept": "*/*"}
    assert out["api_key"] == MASK
    assert out["token"] is None  # "missing" stays visible
    assert out["items"] == [{"secret": MASK}, ["tuple", MASK]]
    assert (out["max_tokens"], out["path"]) == (300, "notes/a.md")
    assert event["api_key"] == 12345 and event["headers"]["Authorization"].startswith("Bearer")


def test_objects_are_rendered_then_masked():
    class Client:
        def __str__(self) -> str:
            return f"Client(key={OPENAI})"

    assert OPENAI not in redact_value({"client": Client()})["client"]


def test_token_file_is_reread_when_it_changes(tmp_path):
    path = tmp_path / "token"
    token = TokenFile(path, recheck_seconds=0.2)
    assert token.value() is None  # no file yet: the API creates it later
    path.write_text("first-token-value\n")
    assert token.value() == "first-token-value"  # no token yet: looked for on every call
    path.write_text("second-token-value-longer\n")
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    assert token.value() == "first-token-value"  # within the recheck interval
    time.sleep(0.25)
    assert token.value() == "second-token-value-longer"
    path.unlink()
    time.sleep(0.25)
    assert token.value() is None


def test_marker_prefilter_masks_exactly_what_every_shape_would():
    """Each shape runs only when one of its markers is in the text: that must never skip a match.
    Reference: every shape applied unconditionally, on random texts built from secret fragments,
    letters that IGNORECASE folds (Kelvin sign, long s, dotted I) and separators."""
    import random

    from shared.redact import _KEY_SHAPES

    def unconditional(text: str) -> str:
        for shape in _KEY_SHAPES:
            text = shape.pattern.sub(shape.replacement, text)
        return text

    # fmt: off
    pieces = ["Bearer ", "BEARER\t", "sk-", "ghp_", "github_pat_", "xoxb-", "AKIA", "AIza",
              "hf_", "eyJ", ".eyJ", "api_key", "API-KEY", "x-api-key", "access_token", "ToKeN",
              "pa\u017fsword", "passwd", "\u212aey", "secret", "client-secret", "=", ": ", '"',
              "'", " ", "&", "[redacted]", "A1b2C3d4E5f6G7h8", "xyz0123456789", "\u0130", "?q="]
    # fmt: on
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert redact_text(text) == unconditional(text), text
