"""Issue 20: any unique start of an id works wherever an id is taken (the page shows 8
characters of a task id); a start several ids share is refused with the candidates. The
resolver on the real ledger and session files, then the API (a real uvicorn process) and the
CLI on top of it."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL_INT8, run_cli
from processes import api_client, service_env, start_service, stop_service
from test_api import assert_error, free_port
from test_services import make_home

from shared.agent.session import SessionStore
from shared.ids import AmbiguousId, InvalidId, UnknownId
from shared.ledger import JobLedger

TASK_A = "03ccd6ad" + "1" * 24
TASK_B = "03ccd6ad" + "2" * 24  # shares its first 8 characters with TASK_A
TASK_C = "7f3e9b20" + "3" * 24
INDEX_JOB = "7f3e9b21" + "4" * 24  # another kind: never a task


def add_jobs(ledger: JobLedger) -> None:
    for job_id in (TASK_A, TASK_B, TASK_C):
        ledger.add("task", title=f"prompt of {job_id[:9]}", job_id=job_id)
    ledger.add("reconcile", job_id=INDEX_JOB)


def test_ledger_resolves_a_unique_start_and_refuses_an_ambiguous_one(config):
    ledger = JobLedger(config.jobs_db)
    add_jobs(ledger)
    assert ledger.resolve(TASK_C) == TASK_C  # a whole id
    assert ledger.resolve("7f3e9b20") == TASK_C
    assert ledger.resolve("03ccd6ad1") == TASK_A
    with pytest.raises(AmbiguousId) as ambiguous:
        ledger.resolve("03ccd6ad")
    assert ambiguous.value.candidates == [TASK_A, TASK_B]
    assert TASK_A in str(ambiguous.value) and TASK_B in str(ambiguous.value)
    # Among tasks only, "7f3e9b2" names one; among all jobs it names two.
    assert ledger.resolve("7f3e9b2", kind="task") == TASK_C
    with pytest.raises(AmbiguousId):
        ledger.resolve("7f3e9b2")
    with pytest.raises(UnknownId):
        ledger.resolve("ffff")
    with pytest.raises(UnknownId):
        ledger.resolve(INDEX_JOB[:10], kind="task")
    with pytest.raises(UnknownId):
        ledger.resolve("  ")
    # LIKE wildcards are plain characters here, never patterns.
    with pytest.raises(UnknownId):
        ledger.resolve("%")
    with pytest.raises(UnknownId):
        ledger.resolve("03ccd6a_")


def test_an_id_that_starts_another_is_still_itself(config):
    ledger = JobLedger(config.jobs_db)
    ledger.add("task", title="short", job_id="abc")
    ledger.add("task", title="long", job_id="abcdef")
    assert ledger.resolve("abc") == "abc"
    assert ledger.resolve("abcd") == "abcdef"


def test_sessions_resolve_by_a_unique_start(config):
    store = SessionStore(config.sessions_dir)
    for session_id in ("20261202-101500-aaaaaa", "20261202-101500-bbbbbb", "20261203-090000-cc"):
        store.create("local/x", config.workspace_dir, session_id)
    assert store.resolve("20261203") == "20261203-090000-cc"
    assert store.resolve("20261202-101500-b") == "20261202-101500-bbbbbb"
    with pytest.raises(AmbiguousId) as ambiguous:
        store.resolve("20261202")
    assert len(ambiguous.value.candidates) == 2
    with pytest.raises(UnknownId):
        store.resolve("1999")
    with pytest.raises(InvalidId):
        store.resolve("2026*")  # never a glob pattern


def test_scheduled_jobs_resolve_by_id_name_or_a_unique_start_of_the_id(config):
    from datetime import UTC, datetime

    from shared.cron import add_schedule, get_schedule, parse_spec

    ledger = JobLedger(config.jobs_db)
    now = datetime.now(UTC)
    for name, schedule_id in (("inbox", "abc123def456"), ("garden", "abc123ffff00")):
        made = add_schedule(ledger, config, "p", parse_spec(now, every="1h"), name, now)
        with ledger.transaction() as conn:  # ids are random: give these two a shared start
            conn.execute("UPDATE schedules SET id = ? WHERE id = ?", (schedule_id, made.id))
    assert get_schedule(ledger, "garden").id == "abc123ffff00"
    assert get_schedule(ledger, "abc123d").name == "inbox"
    with pytest.raises(AmbiguousId) as ambiguous:
        get_schedule(ledger, "abc123")
    assert ambiguous.value.candidates == ["abc123def456", "abc123ffff00"]
    with pytest.raises(UnknownId):
        get_schedule(ledger, "nothing-like-it")


def test_cli_jobs_show_and_cancel_take_a_start_of_the_id(home, config):
    ledger = JobLedger(config.jobs_db)
    add_jobs(ledger)
    shown = run_cli("jobs", "show", "7f3e9b20", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == TASK_C
    ambiguous = run_cli("jobs", "show", "03ccd6ad")
    assert ambiguous.returncode == 1
    assert "ambiguous" in ambiguous.stderr and TASK_A in ambiguous.stderr
    assert TASK_B in ambiguous.stderr
    cancelled = run_cli("jobs", "cancel", "7f3e9b21")
    assert cancelled.returncode == 0, cancelled.stderr
    assert ledger.get(INDEX_JOB).state == "cancelled"


@pytest.fixture(scope="module")
def api(tmp_path_factory, xprocess):
    config = make_home(tmp_path_factory.mktemp("ids"))
    add_jobs(JobLedger(config.jobs_db))
    store = SessionStore(config.sessions_dir)
    for session_id in ("20261202-101500-aaaaaa", "20261202-101500-bbbbbb"):
        store.create("local/x", config.workspace_dir, session_id)
    port = free_port()
    with open(config.home / "config.toml", "a") as handle:
        handle.write(f"[server]\nport = {port}\n")
    env = service_env(config.home, MODEL_INT8)
    start_service(xprocess, "lg-ids-api", ["run", "api"], env, "Uvicorn running on")
    client = api_client(config.home, port, timeout=5)
    yield config, client, env
    client.close()
    stop_service(xprocess, "lg-ids-api")


@pytest.mark.slow
def test_api_routes_take_a_unique_start_of_an_id(api):
    _, client, _ = api
    assert client.get("/api/tasks/7f3e9b20").json()["id"] == TASK_C
    assert client.get("/api/jobs/7f3e9b21").json()["id"] == INDEX_JOB
    message = assert_error(client.get("/api/tasks/03ccd6ad"), 409, "ambiguous_id")
    assert TASK_A in message and TASK_B in message
    assert_error(client.get("/api/jobs/7f3e9b2"), 409, "ambiguous_id")
    assert_error(client.get("/api/tasks/7f3e9b21"), 404, "not_found")  # a job, not a task
    assert_error(client.get("/api/tasks/ffff"), 404, "not_found")
    session = client.get("/api/sessions/20261202-101500-b").json()
    assert session["id"] == "20261202-101500-bbbbbb"
    assert_error(client.get("/api/sessions/20261202"), 409, "ambiguous_id")
    assert_error(client.get("/api/sessions/bad*id"), 400, "bad_request")


@pytest.mark.slow
def test_api_cancel_and_delete_act_on_the_one_id_named(api):
    config, client, _ = api
    assert_error(client.delete("/api/tasks/03ccd6ad"), 409, "ambiguous_id")
    assert JobLedger(config.jobs_db).get(TASK_A).state == "queued"  # nothing was touched
    done = client.delete("/api/tasks/03ccd6ad2")
    assert done.status_code == 200, done.text
    assert done.json()["id"] == TASK_B and done.json()["status"] == "cancelled"
    assert JobLedger(config.jobs_db).get(TASK_A).state == "queued"
    deleted = client.delete("/api/sessions/20261202-101500-a").json()
    assert deleted["id"] == "20261202-101500-aaaaaa"
    assert not (config.sessions_dir / "20261202-101500-aaaaaa.jsonl").exists()
    assert (config.sessions_dir / "20261202-101500-bbbbbb.jsonl").exists()


@pytest.mark.slow
def test_cli_task_show_takes_the_prefix_the_page_shows(api):
    _, _, env = api
    shown = run_cli("task", "show", "7f3e9b20", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == TASK_C
    ambiguous = run_cli("task", "show", "03ccd6ad", env=env)
    assert ambiguous.returncode == 1
    assert "ambiguous" in ambiguous.stderr and TASK_A in ambiguous.stderr
    # One path segment, never a path: not the health check's answer.
    missing = run_cli("task", "show", "../../health", env=env)
    assert missing.returncode == 1 and "404" in missing.stderr and not missing.stdout
    cancelled = run_cli("task", "cancel", "7f3e9b20", env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"task {TASK_C} cancelled" in cancelled.stdout
