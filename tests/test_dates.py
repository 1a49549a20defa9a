"""Dates in notes and time expressions in questions, read against a fixed clock."""

from __future__ import annotations

from datetime import date

import pytest

from shared.memory.dates import (
    DateError,
    DateRange,
    date_filter,
    file_date,
    find_date,
    note_date,
    parse_bound,
    query_time,
    spoken,
)

TODAY = date(2023, 10, 23)  # a Monday


def when(query: str, anchor=None) -> tuple[date | None, date | None] | None:
    found = query_time(query, TODAY, anchor)
    return None if found is None else (found.range.start, found.range.end)


@pytest.mark.parametrize(
    ("path", "headings", "expected"),
    [
        ("memory/2026-11-20.md", [], date(2026, 11, 20)),
        ("memory/conv-26/2023-05-08.md", ["Caroline and Melanie — 08 May 2023"], date(2023, 5, 8)),
        # the innermost dated heading wins over the file name and outer headings
        (
            "memory/2023-05-08.md",
            ["Log — 08 May 2023", "Conversation at 1:56 pm on 9 May, 2023"],
            date(2023, 5, 9),
        ),
        ("MEMORY.md", ["Decisions", "2024-02-29 the move"], date(2024, 2, 29)),
        ("MEMORY.md", ["Decisions"], None),
        ("knowledge/garden.md", [], None),
        ("memory/2023-02-30.md", [], None),  # not a day of the calendar
        ("memory/2023-05-08-standup.md", [], date(2023, 5, 8)),
    ],
)
def test_note_dates_come_from_headings_then_the_file_name(path, headings, expected):
    assert note_date(path, headings) == expected


def test_dates_written_in_text():
    assert find_date("Conversation at 1:56 pm on 8 May, 2023") == date(2023, 5, 8)
    assert find_date("met on May 8th 2023 and again") == date(2023, 5, 8)
    assert find_date("see 2023-05-08") == date(2023, 5, 8)
    assert find_date("on 31 February 2023") is None
    assert find_date("no date here, only 2023") is None
    assert file_date("memory/notes.md") is None
    assert spoken(date(2023, 5, 8)) == "Monday 8 May 2023"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("what did I do yesterday", (date(2023, 10, 22), date(2023, 10, 22))),
        ("the day before yesterday", (date(2023, 10, 21), date(2023, 10, 21))),
        ("notes from today", (TODAY, TODAY)),
        ("what happened last week?", (date(2023, 10, 16), date(2023, 10, 22))),
        ("this week", (date(2023, 10, 23), TODAY)),
        ("the past week", (date(2023, 10, 16), date(2023, 10, 22))),
        ("last month", (date(2023, 9, 1), date(2023, 9, 30))),
        ("last year", (date(2022, 1, 1), date(2022, 12, 31))),
        ("3 days ago", (date(2023, 10, 20), date(2023, 10, 20))),
        ("two weeks ago", (date(2023, 10, 9), date(2023, 10, 15))),
        ("a month ago", (date(2023, 9, 1), date(2023, 9, 30))),
        ("When did Melanie go camping in June?", (date(2023, 6, 1), date(2023, 6, 30))),
        ("in November", (date(2022, 11, 1), date(2022, 11, 30))),  # the last November
        ("What setback did she face in October 2023?", (date(2023, 10, 1), date(2023, 10, 31))),
        ("beach trips in 2023", (date(2023, 1, 1), date(2023, 12, 31))),
        ("the painting on October 13, 2023", (date(2023, 10, 13), date(2023, 10, 13))),
        ("store found on 1 February, 2023", (date(2023, 2, 1), date(2023, 2, 1))),
        ("on the 3rd of May", (date(2023, 5, 3), date(2023, 5, 3))),
        ("what did we decide on 2023-05-08", (date(2023, 5, 8), date(2023, 5, 8))),
        ("last Monday", (date(2023, 10, 16), date(2023, 10, 16))),
        ("before 8 May 2023", (None, date(2023, 5, 8))),
        ("since 2023-05-01", (date(2023, 5, 1), None)),
        ("after last month", (date(2023, 9, 1), None)),
    ],
)
def test_time_expressions_against_a_fixed_clock(query, expected):
    assert when(query) == expected


@pytest.mark.parametrize(
    "query",
    [
        "What may Caroline do next?",  # 'may' the verb
        "Did she march in the parade?",
        "How long ago was her 18th birthday?",
        "What did Melanie realize after the charity race?",  # an event: no anchor given
        "What is 2023 about?",
    ],
)
def test_questions_without_a_time_expression(query):
    assert when(query) is None


def test_an_event_is_dated_by_the_note_about_it():
    """'before the trip': the trip's note says when; the range includes that day."""
    asked = []

    def anchor(event: str) -> date | None:
        asked.append(event)
        return date(2023, 7, 1) if "trip" in event else None

    assert when("what happened before the trip?", anchor) == (None, date(2023, 7, 1))
    assert when("When did Melanie go on a hike after the roadtrip", anchor) == (
        date(2023, 7, 1),
        None,
    )
    assert asked == ["the trip", "the roadtrip"]
    assert when("what did she feel after the accident?", anchor) is None  # no note: ignored


@pytest.mark.parametrize(
    ("value", "side", "expected"),
    [
        ("2023-05-08", "after", date(2023, 5, 8)),
        ("2023-05", "after", date(2023, 5, 1)),
        ("2023-05", "before", date(2023, 5, 31)),
        ("2024-02", "before", date(2024, 2, 29)),
        ("2023", "after", date(2023, 1, 1)),
        ("2023", "before", date(2023, 12, 31)),
        ("yesterday", "after", date(2023, 10, 22)),
        ("today", "before", TODAY),
        ("7 days ago", "after", date(2023, 10, 16)),
        (" 2023-5-8 ", "after", date(2023, 5, 8)),
    ],
)
def test_filter_bounds(value, side, expected):
    assert parse_bound(value, TODAY, side) == expected


@pytest.mark.parametrize("value", ["May", "2023-13", "2023-02-30", "next week", "soon", ""])
def test_bad_filter_bounds_say_what_is_accepted(value):
    with pytest.raises(DateError, match="YYYY-MM-DD|month|calendar"):
        parse_bound(value, TODAY, "after")


def test_a_filter_whose_ends_cross_is_refused():
    assert date_filter("2023-05", "2023-05", TODAY) == (date(2023, 5, 1), date(2023, 5, 31))
    assert date_filter(None, None, TODAY) == (None, None)
    with pytest.raises(DateError, match="later than"):
        date_filter("2023-06-01", "2023-05-31", TODAY)


def test_ranges_are_inclusive():
    may = DateRange(date(2023, 5, 1), date(2023, 5, 31))
    assert may.contains(date(2023, 5, 1)) and may.contains(date(2023, 5, 31))
    assert not may.contains(date(2023, 6, 1)) and not may.contains(None)
    assert DateRange(None, date(2023, 5, 1)).contains(date(1999, 1, 1))
