"""Dated chunks: after/before filters, time expressions in questions, recency."""

from __future__ import annotations

import json
from datetime import date

import pytest
from asgi import asgi_get, status_and_body
from conftest import run_cli, write

from services.api import asgi_app, create_app
from services.api.search_fast_path import PATH
from shared.memory import Memory, db
from shared.memory.search import MemorySearch

TODAY = date(2026, 11, 20)

NOTES = {
    "memory/2026-11-19.md": "# Thursday\n\n- Booked the ferry to Hydra for the boat trip.\n",
    "memory/2026-11-05.md": "# Notes\n\n- Asked about ferry prices to Aegina.\n",
    "memory/2026-10-02.md": "# Notes\n\n- The ferry strike cancelled our crossing.\n",
    "memory/standup.md": (
        "# Standups\n\n## Standup on 12 October, 2026\n\n- Ferry schedule app: shipped.\n"
    ),
    "knowledge/travel.md": "# Travel\n\nFerry tickets are cheaper online.\n",
}


@pytest.fixture
def dated(config, workspace, embedder):
    for path, text in NOTES.items():
        write(workspace / path, text)
    memory = Memory(config, embedder)
    memory.sync()
    yield memory
    memory.close()


def paths(response) -> list[str]:
    return [hit.path for hit in response.results]


def test_chunks_are_dated_by_file_name_or_heading(dated):
    days = dict(dated.conn.execute("SELECT path, day FROM chunks WHERE text LIKE '%erry%'"))
    assert days == {
        "memory/2026-11-19.md": "2026-11-19",
        "memory/2026-11-05.md": "2026-11-05",
        "memory/2026-10-02.md": "2026-10-02",
        "memory/standup.md": "2026-10-12",  # from its heading
        "knowledge/travel.md": None,
    }


def test_after_and_before_filter_by_date_and_leave_undated_notes_out(dated):
    everything = dated.search("ferry", 10)
    assert set(paths(everything)) == set(NOTES)
    assert {hit.day for hit in everything.results} >= {"2026-11-19", None}

    assert {hit.date for hit in everything.results} >= {"2026-11-19", ""}
    november = dated.search("ferry", 10, after=date(2026, 11, 1))
    assert sorted(paths(november)) == ["memory/2026-11-05.md", "memory/2026-11-19.md"]
    assert november.after == "2026-11-01" and november.before is None

    october = dated.search("ferry", 10, after=date(2026, 10, 1), before=date(2026, 10, 31))
    assert sorted(paths(october)) == ["memory/2026-10-02.md", "memory/standup.md"]

    one_day = dated.search("ferry", 10, after=date(2026, 11, 5), before=date(2026, 11, 5))
    assert paths(one_day) == ["memory/2026-11-05.md"]  # both ends inclusive
    assert dated.search("ferry", 10, before=date(2026, 1, 1)).results == []


def test_the_vector_leg_is_filtered_too(dated, embedder):
    """A query with no keyword in the notes ranks by meaning alone: the filter applies there,
    on the in-memory vectors and on sqlite-vec's path."""
    from shared.memory import VectorMatrix

    for vectors in (None, VectorMatrix()):
        search = MemorySearch(dated.conn, embedder, dated.config.memory, vectors)
        found = search.search("sea voyage on a vessel", 10, after=date(2026, 11, 1))
        assert found.results and all(hit.keyword_score == 0 for hit in found.results)
        assert set(paths(found)) <= {"memory/2026-11-05.md", "memory/2026-11-19.md"}


def test_a_time_expression_in_the_question_ranks_notes_of_that_time_first(dated):
    search = MemorySearch(dated.conn, dated.embedder, dated.config.memory, today=lambda: TODAY)
    found = search.search("ferry yesterday", 10)
    assert found.query_time == {"text": "yesterday", "after": "2026-11-19", "before": "2026-11-19"}
    assert paths(found)[0] == "memory/2026-11-19.md"
    october = search.search("what about the ferry in October", 10)
    assert october.query_time["after"] == "2026-10-01"
    assert set(paths(october)[:2]) == {"memory/2026-10-02.md", "memory/standup.md"}
    # It ranks, never filters: the other notes are still there.
    assert len(october.results) == len(NOTES)
    search.understand_time = False
    assert search.search("ferry yesterday", 10).query_time is None


def test_an_event_in_the_question_is_dated_by_its_note(dated):
    search = MemorySearch(dated.conn, dated.embedder, dated.config.memory, today=lambda: TODAY)
    found = search.search("ferry notes before the strike", 10)
    assert found.query_time == {"text": "before the strike", "after": None, "before": "2026-10-02"}
    assert paths(found)[0] == "memory/2026-10-02.md"  # the only note dated on or before it


def test_recency_orders_results_by_age_and_spares_memory_md(config, workspace, embedder):
    for path, text in {
        "memory/2026-11-18.md": "# Notes\n\n- Kayak club: moved to Friday.\n",
        "memory/2026-06-01.md": "# Notes\n\n- Kayak club meeting: the kayak club meeting moved.\n",
        "MEMORY.md": "# Memory\n\n## 2026-01-10 Kayak\n\n- The kayak club meets on Fridays.\n",
        "knowledge/clubs.md": "# Clubs\n\n- Kayak club: bring a helmet.\n",
    }.items():
        write(workspace / path, text)
    memory = Memory(config, embedder)
    try:
        memory.sync()
        search = MemorySearch(memory.conn, embedder, config.memory, today=lambda: TODAY)

        def ranked() -> dict[str, float]:
            found = search.search("kayak club meeting", 4)
            return {hit.path: hit.score for hit in found.results}

        relevance = ranked()
        assert list(relevance)[0] == "memory/2026-06-01.md"  # it says it twice
        config.memory.recency_half_life_days = 30
        recent = ranked()
        assert list(recent).index("memory/2026-11-18.md") < list(recent).index(
            "memory/2026-06-01.md"
        )
        assert set(recent) == set(relevance)  # reordered, nothing swapped out
        old = recent["memory/2026-06-01.md"] / relevance["memory/2026-06-01.md"]
        assert old == pytest.approx(0.5 ** (172 / 30), rel=0.05)  # 172 days: 5.7 half-lives
        assert recent["MEMORY.md"] == relevance["MEMORY.md"]  # evergreen, though dated
        assert recent["knowledge/clubs.md"] == relevance["knowledge/clubs.md"]  # undated
    finally:
        config.memory.recency_half_life_days = 0
        memory.close()


def test_an_index_from_before_dates_is_migrated_and_rechunked(config, workspace, embedder):
    """An older database (no day/seq/context columns) gains them and is re-chunked."""
    write(workspace / "memory" / "2026-11-19.md", NOTES["memory/2026-11-19.md"])
    memory = Memory(config, embedder)
    memory.sync()
    with db.write_tx(memory.conn):
        memory.conn.execute("DROP INDEX chunks_day")
        for column in ("day", "seq", "context"):
            memory.conn.execute(f"ALTER TABLE chunks DROP COLUMN {column}")
        db.set_meta(memory.conn, "schema_version", "2")
        db.set_meta(memory.conn, "chunking", "3:160")
    memory.close()
    memory = Memory(config, embedder)
    try:
        report = memory.sync()
        assert report.files_indexed == report.files_seen  # everything re-chunked
        day = memory.conn.execute(
            "SELECT day FROM chunks WHERE path = 'memory/2026-11-19.md'"
        ).fetchone()[0]
        assert day == "2026-11-19"
    finally:
        memory.close()


# -- the CLI and the API ----------------------------------------------------------------------


def test_cli_search_after_and_before(home, workspace):
    for path, text in NOTES.items():
        write(workspace / path, text)
    assert run_cli("memory", "reindex").returncode == 0
    done = run_cli("memory", "search", "ferry", "--json", "--after", "2026-11", "-n", "10")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["after"] == "2026-11-01" and data["before"] is None
    assert sorted(r["path"] for r in data["results"]) == [
        "memory/2026-11-05.md",
        "memory/2026-11-19.md",
    ]
    human = run_cli("memory", "search", "ferry", "--before", "2026-10-31", "-n", "10")
    assert human.returncode == 0, human.stderr
    assert "memory/2026-10-02.md#L" in human.stdout and "2026-11-19" not in human.stdout
    assert "2026-10-12" in human.stdout  # each hit's day is shown
    bad = run_cli("memory", "search", "ferry", "--after", "soon")
    assert bad.returncode != 0 and "YYYY-MM-DD" in bad.stderr
    crossed = run_cli("memory", "search", "ferry", "--after", "2026-11", "--before", "2026-10")
    assert crossed.returncode != 0 and "later than" in crossed.stderr


def get(app, token: str, query: bytes) -> tuple[int, dict]:
    headers = [(b"host", b"127.0.0.1:31327"), (b"authorization", b"Bearer " + token.encode())]
    status, body = status_and_body(asgi_get(app, PATH, query, headers))
    return status, json.loads(body)


def test_api_search_after_and_before(config, workspace, embedder):
    """`after`/`before` go through the documented route (the fast path hands them over);
    bad dates get the API's 422."""
    for path, text in NOTES.items():
        write(workspace / path, text)
    Memory(config, embedder).sync()
    config.embedding.query_service_wait = 600  # no worker: keywords all along, no model race
    app = create_app(config)
    served, state = asgi_app(app, config.server.host), app.state.api
    try:
        status, body = get(served, state.token, b"q=ferry&limit=10&after=2026-11-01")
        assert status == 200, body
        assert body["after"] == "2026-11-01" and body["before"] is None
        assert sorted(r["path"] for r in body["results"]) == [
            "memory/2026-11-05.md",
            "memory/2026-11-19.md",
        ]
        assert all(r["day"] >= "2026-11-01" for r in body["results"])
        status, body = get(served, state.token, b"q=ferry&limit=10&before=2026-10")
        assert status == 200
        assert sorted(r["path"] for r in body["results"]) == [
            "memory/2026-10-02.md",
            "memory/standup.md",
        ]
        for query, fragment in [
            (b"q=ferry&after=soon", "YYYY-MM-DD"),
            (b"q=ferry&after=2026-11-02&before=2026-11-01", "later than"),
        ]:
            status, body = get(served, state.token, query)
            assert status == 422 and fragment in body["error"]["message"]
        # Without a filter the fast path answers, with the same fields as the route.
        status, fast = get(served, state.token, b"q=ferry&limit=10")
        status_route, route = get(served, state.token, b"q=ferry&limit=10&via=route")
        assert status == status_route == 200
        assert fast.pop("took_ms") >= 0 and route.pop("took_ms") >= 0
        assert fast == route and fast["after"] is None and fast["results"]
    finally:
        state.close()
