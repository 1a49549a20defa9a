"""The reply guard: watches a reply as it streams and cuts it when it degenerates.

Small models loop (the same line, or the same few words, over and over) and recite their prompt
(its markers, "User message:", the instructions). Sampling settings make that rarer; this makes
it harmless: the reply is cut where the degeneration starts, the cut is reported, and nothing of
the prompt's scaffolding reaches the user.

Text is released as it streams, except a short tail that could still turn out to be the start of
a marker, and a line that so far repeats the start of an earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Prompt scaffolding that must never be shown, wherever it appears in a reply.
SCAFFOLDING = (
    "<<<",
    ">>>",
    "UNTRUSTED_CONTENT",
    "BEGIN_QUOTED_NOTES",
    "END_QUOTED_NOTES",
    "User message:",
    "[Startup context",
    "Tool result (",
)
# Scaffolding of the compact prompt that is harmless inside a sentence but marks a recital when
# it starts a line ("Question: ..." is the model writing the next prompt itself).
LINE_SCAFFOLDING = ("Question:", "Notes:", "Note [", "System:", "Assistant:", "User:")

SHINGLE = 6  # words per shingle when comparing a line with earlier text or the prompt
PERIOD_MIN, PERIOD_MAX = 8, 160  # lengths of a repeating unit the loop check looks for


@dataclass(frozen=True)
class GuardTrip:
    """Why a reply was cut: `kind` is "repetition" or "echo"."""

    kind: str
    detail: str

    @property
    def notice(self) -> str:
        if self.kind == "repetition":
            return "The reply was cut: the model started repeating itself."
        return "The reply was cut: the model started reciting its instructions."


class ReplyGuard:
    """Feed deltas in, get the text that is safe to show out; `tripped` says when to stop."""

    def __init__(self, prompt_texts: Iterable[str] = (), hidden: Iterable[str] = ()) -> None:
        self.text = ""  # everything received that is still part of the reply
        self.released = 0  # chars of `text` already handed out
        self.tripped: GuardTrip | None = None
        self._prompt_shingles = set()
        for piece in prompt_texts:
            self._prompt_shingles |= _shingles(piece)
        # Strings that must not be shown verbatim (machine paths); longest first.
        self._hidden = sorted({h for h in hidden if len(h) >= 4}, key=len, reverse=True)
        self._markers = (*SCAFFOLDING, *self._hidden)

    def feed(self, delta: str) -> str:
        """Add a delta; return the newly releasable text ("" once tripped)."""
        if self.tripped or not delta:
            return ""
        self.text += delta
        self._check()
        return self._release(final=False)

    def finish(self) -> str:
        """The stream ended: release what was held back (after a last check)."""
        if not self.tripped:
            self._check(final=True)
        return self._release(final=True)

    # -- checks ---------------------------------------------------------------------------

    def _check(self, final: bool = False) -> None:
        for check in (self._scaffolding, self._line_repeats, self._loop):
            cut = check(final)
            if cut is not None:
                position, trip = cut
                self.text = self.text[:position].rstrip()
                self.released = min(self.released, len(self.text))
                self.tripped = trip
                return

    def _scaffolding(self, final: bool) -> tuple[int, GuardTrip] | None:
        found = [(self.text.find(m), m) for m in self._markers]
        found = [(at, m) for at, m in found if at >= 0]
        for match in _LINE_START.finditer(self.text):
            found.append((match.start(1), match.group(1)))
        if not found:
            return None
        at, marker = min(found)
        line_start = self.text.rfind("\n", 0, at) + 1
        # Cut the whole line the marker starts in when the marker leads it; else at the marker.
        position = line_start if not self.text[line_start:at].strip() else at
        shown = "a path on this machine" if marker in self._hidden else repr(marker)
        return position, GuardTrip("echo", f"the reply contained {shown}")

    def _line_repeats(self, final: bool) -> tuple[int, GuardTrip] | None:
        """A line that repeats an earlier one, or is mostly earlier text or the prompt (the
        unfinished last line is checked too, so a recital is caught while it starts)."""
        lines = self.text.split("\n")
        seen: set[str] = set()
        earlier: set[tuple[str, ...]] = set()
        offset = 0
        for number, line in enumerate(lines):
            finished = final or number < len(lines) - 1
            key = _normal(line)
            shingles = _shingles(line)
            if key:
                repeated = finished and key in seen and len(key) >= 8
                near = len(shingles) >= 3 and len(shingles & earlier) >= 0.7 * len(shingles)
                recital = len(shingles) >= 2 and len(shingles & self._prompt_shingles) >= 0.6 * len(
                    shingles
                )
                if repeated or near:
                    return offset, GuardTrip("repetition", f"repeated line: {line.strip()[:60]!r}")
                if recital:
                    return offset, GuardTrip("echo", "the reply recited the prompt")
                seen.add(key)
                earlier |= shingles
            offset += len(line) + 1
        return None

    def _loop(self, final: bool) -> tuple[int, GuardTrip] | None:
        """The text ends in the same unit three times over (or twice, for a long unit)."""
        text = self.text
        for period in range(PERIOD_MIN, min(PERIOD_MAX, len(text) // 2) + 1):
            unit = text[-period:]
            if text[-2 * period : -period] != unit or len(re.findall(r"\w", unit)) < 3:
                continue
            copies = 2
            while text[-(copies + 1) * period : -copies * period] == unit:
                copies += 1
            if copies >= 3 or period >= 16:
                # Keep one copy, up to its last whole word (the unit may start mid-word).
                end = len(text) - (copies - 1) * period
                boundary = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))
                cut = boundary if boundary > len(text) - copies * period else end
                return cut, GuardTrip("repetition", f"looping on {unit.strip()[:40]!r}")
        return None

    # -- releasing ------------------------------------------------------------------------

    def _release(self, final: bool) -> str:
        end = len(self.text) if final or self.tripped else self._safe_end()
        if end <= self.released:
            return ""
        out = self.text[self.released : end]
        self.released = end
        return out

    def _safe_end(self) -> int:
        """Hold back only what may still turn out to be bad: a tail that begins a marker, and
        a line that so far repeats the start of an earlier line or may be line scaffolding."""
        text = self.text
        end = len(text)
        for marker in self._markers:
            end = min(end, len(text) - _overlap(text, marker))
        line_start = text.rfind("\n") + 1
        partial = _normal(text[line_start:])
        if partial:  # a line that so far repeats an earlier one waits until it differs
            earlier = [_normal(x) for x in text[:line_start].split("\n")]
            if any(e.startswith(partial) for e in earlier if e):
                end = min(end, line_start)
        if text[line_start:].lstrip()[:1] and _could_be_line_marker(text[line_start:]):
            end = min(end, line_start)
        return max(end, self.released)


def _overlap(text: str, marker: str) -> int:
    """The length of the longest end of `text` that begins `marker` (0 if none)."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


_LINE_START = re.compile(
    r"(?:^|\n)[ \t>*_-]*(" + "|".join(re.escape(m) for m in LINE_SCAFFOLDING) + ")"
)


def _could_be_line_marker(partial_line: str) -> bool:
    head = partial_line.lstrip(" \t>*_-")
    return any(m.startswith(head) or head.startswith(m) for m in LINE_SCAFFOLDING) and len(
        head
    ) <= max(len(m) for m in LINE_SCAFFOLDING)


def _normal(line: str) -> str:
    return " ".join(re.findall(r"\w+", line.lower()))


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
