"""One log event -> one JSON line, with every secret masked (see `shared.redact`).

Every process writes a line per event, and the API one per request, so this is on hot paths.
The common event is flat (strings, numbers) and holds nothing to mask: its string values are
checked together, in one pass (`could_hold_secret`), and it is rendered as it is. Anything else
(nested values, objects, a possible secret) takes the full walk, `redact_value`, and is rendered
from its result. Both give the same line; a randomized test checks it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from shared.redact import could_hold_secret, is_sensitive_key, mask_value, redact_value

_NUMBERS_AND_NONE = (int, float, type(None))  # bool is an int
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
_SEPARATOR = "\x00"  # joins values: no marker contains it, so none can span two values
_MAX_KEY_SETS = 1024
_sensitive_by_keys: dict[frozenset, tuple] = {}


def redacted_json(event: dict[str, Any], exact: str | None) -> str:
    """`json_line(redact_value(event, exact))`, without walking the common event."""
    strings = _flat_strings(event)
    if strings is not None and not could_hold_secret(_SEPARATOR.join(strings), exact):
        return json_line(_mask_sensitive_fields(event))
    return json_line(redact_value(event, exact))


def json_line(event: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 kept as is; what orjson cannot encode (a lone surrogate, an int past
    64 bits) is written by the stdlib, escaped to ASCII."""
    try:
        return orjson.dumps(event, default=str, option=_ORJSON_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(event, default=str, ensure_ascii=True)


def _flat_strings(event: dict[str, Any]) -> list[str] | None:
    """The event's string values, or None if any value is not a string, number or None."""
    strings = []
    for value in event.values():
        if isinstance(value, str):
            strings.append(value)
        elif not isinstance(value, _NUMBERS_AND_NONE):
            return None
    return strings


def _mask_sensitive_fields(event: dict[str, Any]) -> dict[str, Any]:
    """`event`, or a copy with credential-named fields masked (names looked up once per set of
    field names: a call site logs the same fields every time)."""
    keys = frozenset(event)
    sensitive = _sensitive_by_keys.get(keys)
    if sensitive is None:
        if len(_sensitive_by_keys) >= _MAX_KEY_SETS:
            _sensitive_by_keys.clear()
        sensitive = _sensitive_by_keys[keys] = tuple(k for k in keys if is_sensitive_key(k))
    if not sensitive:
        return event
    masked = dict(event)
    for key in sensitive:
        masked[key] = mask_value(masked[key])
    return masked
