"""A log line is the full redaction walk's line, whichever way it was made."""

from __future__ import annotations

import json
import random

from shared.logline import json_line, redacted_json
from shared.redact import MASK, redact_value

TOKEN = "Qm9vLXRva2VuLXZhbHVl_x-Z0123456789abcdef"
# fmt: off
FRAGMENTS = ["Bearer ", "sk-", "sk-ant-api03-", "ghp_", "xoxb-", "AKIA", "hf_", "eyJ", ".eyJ",
             "api_key=", "ToKeN: ", "pa\u017fsword=", "\u212aey", "secret", TOKEN, TOKEN[:12],
             "A1b2C3d4E5f6G7h8I9j0", "notes/a.md", " ", "=", '"', "\\", "\n", "\x00", "\u0130",
             "caf\u00e9", "\ud800", "GET /api/memory/search?q=", "&limit=6"]
KEYS = ["event", "path", "query", "api_key", "token", "max_tokens", "Authorization", "note",
        "status", "ms", "password", "session_id", 7]
# fmt: on


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(10 if depth < 2 else 7)
    if kind < 4:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 6)))
    if kind == 4:
        return rng.choice([0, -3, 2**70, 1.5, float("nan"), True, False])
    if kind == 5:
        return None
    if kind == 6:
        return ""
    if kind == 7:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == 8:
        return (random_value(rng, depth + 1), random_value(rng, depth + 1))
    return {rng.choice(KEYS): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def test_the_quick_path_gives_the_full_walks_line():
    rng = random.Random(11)
    for _ in range(4000):
        event = {rng.choice(KEYS): random_value(rng) for _ in range(rng.randint(1, 7))}
        exact = rng.choice([TOKEN, None, "short"])
        assert redacted_json(event, exact) == json_line(redact_value(event, exact)), event


def test_a_clean_flat_event_is_rendered_as_it_is():
    event = {"event": "http_request", "path": "/api/memory/search", "status": 200, "ms": 4.2}
    assert json.loads(redacted_json(event, TOKEN)) == event


def test_secrets_in_flat_events_are_masked():
    line = redacted_json(
        {"event": f"GET /api/x?t={TOKEN}", "api_key": "plain", "note": "sk-" + "k" * 30}, TOKEN
    )
    assert TOKEN not in line and "plain" not in line and "k" * 30 not in line
    assert json.loads(line)["api_key"] == MASK


def test_what_orjson_cannot_encode_is_still_one_json_line():
    line = json_line({"path": "bad-\udcff-name.md", "big": 2**70})
    assert "\n" not in line
    assert json.loads(line) == {"path": "bad-\udcff-name.md", "big": 2**70}
