"""Ids as people type them: the whole id, or any start of it that names one thing.

The page and `task list` show the first 8 characters of a task id and `jobs list` the first 12;
whatever takes an id (the CLI, the API's `/{id}` routes, chat's `/resume`) accepts such a start
through `resolve_id`, the one place that decides what a typed id means. A start shared by
several ids is refused with the candidates, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_CANDIDATES = 10
# The highest code point: every id that starts with a prefix sorts below prefix + this.
_AFTER_ALL = "\U0010ffff"


class IdLookupError(LookupError):
    """A typed id names nothing, or more than one thing; the message says which."""


class UnknownId(IdLookupError):
    pass


class InvalidId(IdLookupError):
    """Not the form of an id of this kind at all."""


class AmbiguousId(IdLookupError):
    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


def prefix_range(prefix: str) -> tuple[str, str]:
    """(low, high) such that `low <= id < high` holds exactly for ids starting with `prefix`
    (for an indexed `WHERE id >= ? AND id < ?`)."""
    return prefix, prefix + _AFTER_ALL


def resolve_id(given: str, starting_with: Callable[[str, int], list[str]], what: str) -> str:
    """The id that is `given`, or the only one that starts with it.

    `starting_with(prefix, limit)` returns up to `limit` ids beginning with `prefix`, sorted
    (so an exact id comes first among the longer ones it starts). `what` names the kind of
    thing in messages ("task", "job", "session")."""
    given = given.strip()
    if not given:
        raise UnknownId(f"no {what} id given")
    ids = starting_with(given, MAX_CANDIDATES + 1)
    if given in ids:
        return given
    if not ids:
        raise UnknownId(f"no {what} {given!r}")
    if len(ids) == 1:
        return ids[0]
    shown = ", ".join(ids[:MAX_CANDIDATES]) + (", ..." if len(ids) > MAX_CANDIDATES else "")
    more = "more than " if len(ids) > MAX_CANDIDATES else ""
    raise AmbiguousId(
        f"{what} id {given!r} is ambiguous: {more}{min(len(ids), MAX_CANDIDATES)} "
        f"{what}s start with it ({shown}); type more of it",
        ids[:MAX_CANDIDATES],
    )
