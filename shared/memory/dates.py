"""Dates in notes and in questions, without an NLP dependency.

Notes: a daily log's date comes from its file name (`memory/2026-11-20.md`) or from a heading
that carries a date ("## Conversation at 1:56 pm on 8 May, 2023"); the innermost dated heading
wins over the file name, and a note with neither is undated.

Questions: `query_time(query, today)` finds one time expression ("yesterday", "last week",
"in May 2023", "on 13 October, 2023", "3 days ago", "before the trip", ...) and turns it into an
inclusive `DateRange`, read against `today` (injectable, so tests use a fixed clock). An
expression that names an event rather than a date ("before the trip") is resolved by a
callback that finds the date of the note about that event; when it cannot, the expression is
ignored. `parse_bound` reads the `--after` / `--before` filters.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {
    name: number
    for number in range(1, 13)
    for name in (calendar.month_name[number].lower(), calendar.month_abbr[number].lower())
}
MONTHS["sept"] = 9
WEEKDAYS = {calendar.day_name[n].lower(): n for n in range(7)}

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"

ISO_DATE = re.compile(r"(?<!\d)(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)(?!\d)")
# "8 May, 2023", "08 May 2023", "May 8, 2023", "May 8th 2023"
DAY_MONTH_YEAR = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.I)
MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.I)


@dataclass(frozen=True)
class DateRange:
    """Inclusive on both ends; None means open."""

    start: date | None = None
    end: date | None = None

    def contains(self, day: date | None) -> bool:
        if day is None:
            return False
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def iso(self) -> tuple[str | None, str | None]:
        return (
            self.start.isoformat() if self.start else None,
            self.end.isoformat() if self.end else None,
        )


@dataclass(frozen=True)
class QueryTime:
    """A time expression found in a question, and the dates it stands for."""

    text: str  # the words that said it, as written
    range: DateRange


# -- dates in notes --------------------------------------------------------------------------


def find_date(text: str) -> date | None:
    """The first full date written in `text` (ISO, "8 May, 2023" or "May 8, 2023")."""
    found: list[tuple[int, date]] = []
    for pattern in (ISO_DATE, DAY_MONTH_YEAR, MONTH_DAY_YEAR):
        for match in pattern.finditer(text):
            day = _date_of(match)
            if day is not None:
                found.append((match.start(), day))
                break
    return min(found)[1] if found else None


def file_date(path: str) -> date | None:
    """The date a daily log's file name gives (`.../YYYY-MM-DD.md`), else None."""
    name = path.rsplit("/", 1)[-1]
    match = re.fullmatch(r"((?:19|20)\d\d)-([01]\d)-([0-3]\d)(?:[^\d].*)?\.md", name)
    if not match:
        return None
    return _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def note_date(path: str, headings: list[str]) -> date | None:
    """A chunk's date: its innermost dated heading, else its file name's date, else None."""
    for heading in reversed(headings):
        day = find_date(heading)
        if day is not None:
            return day
    return file_date(path)


def spoken(day: date) -> str:
    """A date as words, so keywords like "May" or "Monday" can match it: "Monday 8 May 2023"."""
    weekday, month = calendar.day_name[day.weekday()], calendar.month_name[day.month]
    return f"{weekday} {day.day} {month} {day.year}"


# -- filters (--after / --before) ------------------------------------------------------------


class DateError(ValueError):
    pass


def parse_bound(value: str, today: date, side: str) -> date:
    """A filter bound: YYYY-MM-DD, YYYY-MM or YYYY (the first day for `after`, the last day for
    `before`), or a relative word: today, yesterday, or N days/weeks/months/years ago."""
    text = value.strip().lower()
    if side not in ("after", "before"):
        raise ValueError(side)
    relative = query_time(text, today)
    if relative is not None and relative.range.start and relative.range.end:
        exact = relative.text.strip().lower() == text
        if exact:
            return relative.range.start if side == "after" else relative.range.end
    match = re.fullmatch(r"((?:19|20)\d\d)(?:-([01]?\d)(?:-([0-3]?\d))?)?", text)
    if not match:
        raise DateError(
            f"{value!r} is not a date: use YYYY-MM-DD, YYYY-MM, YYYY, today, yesterday "
            "or 'N days ago'"
        )
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    if month is not None and not 1 <= month <= 12:
        raise DateError(f"{value!r} has no month {month}")
    if day is not None:
        found = _safe_date(year, month, day)
        if found is None:
            raise DateError(f"{value!r} is not a day of the calendar")
        return found
    span = _month_range(year, month) if month else DateRange(date(year, 1, 1), date(year, 12, 31))
    return span.start if side == "after" else span.end


# What the `after` / `before` filters take, as the API, MCP and CLI describe them.
AFTER_HELP = (
    "Only notes dated on or after: YYYY-MM-DD, YYYY-MM, YYYY, today, yesterday or 'N days "
    "ago'. Undated notes are left out."
)
BEFORE_HELP = "Only notes dated on or before."


def date_filter(
    after: str | None, before: str | None, today: date
) -> tuple[date | None, date | None]:
    """`--after` / `--before` (API: `after`, `before`) as inclusive dates; raises DateError
    with a message for the user on a bad value or an empty range."""
    low = parse_bound(after, today, "after") if after else None
    high = parse_bound(before, today, "before") if before else None
    if low is not None and high is not None and low > high:
        raise DateError(f"after ({low}) is later than before ({high}): no date is in between")
    return low, high


# -- time expressions in questions -----------------------------------------------------------

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2,
    "a few": 3, "few": 3, "couple of": 2,
}  # fmt: skip
_COUNT = r"(?P<count>\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
_UNIT = r"(?P<unit>day|week|month|year)s?"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?:on\s+)?" + ISO_DATE.pattern, re.I)),
    ("dmy", re.compile(r"\b(?:on\s+)?" + DAY_MONTH_YEAR.pattern, re.I)),
    ("mdy", re.compile(r"\b(?:on\s+)?" + MONTH_DAY_YEAR.pattern, re.I)),
    ("ago", re.compile(rf"\b{_COUNT}\s+{_UNIT}\s+ago\b", re.I)),
    ("day_before_yesterday", re.compile(r"\bthe\s+day\s+before\s+yesterday\b", re.I)),
    ("yesterday", re.compile(r"\byesterday\b", re.I)),
    ("today", re.compile(r"\b(?:today|tonight|this\s+morning|this\s+evening)\b", re.I)),
    ("relative", re.compile(
        r"\b(?P<which>last|past|previous|this)\s+(?P<unit>week|month|year)\b", re.I)),
    ("weekday", re.compile(
        r"\b(?:last|on|this\s+past)\s+(?P<weekday>" + "|".join(WEEKDAYS) + r")\b", re.I)),
    ("month_year", re.compile(rf"\b(?:in\s+|during\s+)?{_MONTH},?\s+{_YEAR}\b", re.I)),
    ("month_day", re.compile(rf"\bon\s+{_MONTH}\s+{_DAY}\b", re.I)),
    ("month_day", re.compile(rf"\bon\s+(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}\b", re.I)),
    ("month", re.compile(rf"\b(?:in|during)\s+(?:early\s+|late\s+|mid-?\s*)?{_MONTH}\b", re.I)),
    ("year", re.compile(rf"\b(?:in|during)\s+{_YEAR}\b", re.I)),
]  # fmt: skip
_ANCHOR = re.compile(
    r"\b(?P<side>before|after|since|until|till|prior\s+to)\s+(?P<event>(?:the|my|our|his|her|their|"
    r"that|this|a|an)\s+[\w' -]{2,40}?)(?=[?.!,;]|\s+(?:and|but|when|what|where|who|did|was|"
    r"were|is|do)\b|$)",
    re.I,
)


def query_time(
    query: str,
    today: date,
    anchor: Callable[[str], date | None] | None = None,
) -> QueryTime | None:
    """The time expression in a question as dates, or None when there is none (or it names an
    event whose date cannot be found). `anchor(event)` gives the date of the note about an
    event ("the trip"); `before`/`after` an event or a date give an open range that includes
    that day (the question may be about the same day)."""
    side_match = re.search(r"\b(before|after|since|until|till|prior\s+to)\s+", query, re.I)
    found = _first_expression(query, today)
    if side_match and found and found[0] >= side_match.end() - 1:
        # "before 8 May 2023": the open range on one side of the date
        return _one_side(query[side_match.start() : found[1]], side_match.group(1), found[2])
    if found:
        return QueryTime(query[found[0] : found[1]], found[2])
    if anchor is None:
        return None
    match = _ANCHOR.search(query)
    if not match:
        return None
    event = match.group("event").strip()
    day = anchor(event)
    if day is None:
        return None
    return _one_side(match.group(0), match.group("side"), DateRange(day, day))


def _one_side(text: str, side: str, point: DateRange) -> QueryTime:
    side = side.lower()
    if side in ("before", "until", "till") or side.startswith("prior"):
        return QueryTime(text, DateRange(None, point.end))
    return QueryTime(text, DateRange(point.start, None))


def _first_expression(query: str, today: date) -> tuple[int, int, DateRange] | None:
    best: tuple[int, int, DateRange] | None = None
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(query):
            span = _range_of(kind, match, today)
            if span is None:
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), match.end(), span)
            break
    return best


def _range_of(kind: str, m: re.Match[str], today: date) -> DateRange | None:
    if kind in ("iso", "dmy", "mdy"):
        day = _date_of(m)
        return DateRange(day, day) if day else None
    if kind == "today":
        return DateRange(today, today)
    if kind == "yesterday":
        day = today - timedelta(days=1)
        return DateRange(day, day)
    if kind == "day_before_yesterday":
        day = today - timedelta(days=2)
        return DateRange(day, day)
    if kind == "ago":
        raw = m.group("count").lower()
        count = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        return _ago(count, m.group("unit").lower(), today)
    if kind == "relative":
        return _relative(m.group("which").lower(), m.group("unit").lower(), today)
    if kind == "weekday":
        wanted = WEEKDAYS[m.group("weekday").lower()]
        back = (today.weekday() - wanted) % 7 or 7
        day = today - timedelta(days=back)
        return DateRange(day, day)
    if kind == "month_year":
        return _month_range(int(m.group("year")), MONTHS[m.group("month").lower()])
    if kind == "month_day":
        month, day = MONTHS[m.group("month").lower()], int(m.group("day"))
        for year in (today.year, today.year - 1):
            found = _safe_date(year, month, day)
            if found is not None and found <= today:
                return DateRange(found, found)
        return None
    if kind == "month":
        month = MONTHS[m.group("month").lower()]
        year = today.year if month <= today.month else today.year - 1
        return _month_range(year, month)
    if kind == "year":
        year = int(m.group("year"))
        return DateRange(date(year, 1, 1), date(year, 12, 31))
    return None


def _ago(count: int, unit: str, today: date) -> DateRange:
    if unit == "day":
        day = today - timedelta(days=count)
        return DateRange(day, day)
    if unit == "week":
        day = today - timedelta(weeks=count)
        monday = day - timedelta(days=day.weekday())
        return DateRange(monday, monday + timedelta(days=6))
    if unit == "month":
        year, month = _shift_month(today.year, today.month, -count)
        return _month_range(year, month)
    return DateRange(date(today.year - count, 1, 1), date(today.year - count, 12, 31))


def _relative(which: str, unit: str, today: date) -> DateRange:
    this = which == "this"
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        if this:
            return DateRange(monday, today)
        if which == "past":  # "the past week": the seven days before today
            return DateRange(today - timedelta(days=7), today - timedelta(days=1))
        return DateRange(monday - timedelta(days=7), monday - timedelta(days=1))
    if unit == "month":
        if this:
            return DateRange(today.replace(day=1), today)
        if which == "past":
            return DateRange(today - timedelta(days=30), today - timedelta(days=1))
        year, month = _shift_month(today.year, today.month, -1)
        return _month_range(year, month)
    if this:
        return DateRange(date(today.year, 1, 1), today)
    if which == "past":
        return DateRange(today - timedelta(days=365), today - timedelta(days=1))
    return DateRange(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _month_range(year: int, month: int) -> DateRange:
    last = calendar.monthrange(year, month)[1]
    return DateRange(date(year, month, 1), date(year, month, last))


def _date_of(match: re.Match[str]) -> date | None:
    month = match.group("month")
    number = int(month) if month.isdigit() else MONTHS[month.lower().rstrip(".")]
    return _safe_date(int(match.group("year")), number, int(match.group("day")))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
