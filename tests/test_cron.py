"""Scheduled jobs on real SQLite files, under an injected clock: slots across DST changes,
missed runs, a deleted queue file, concurrent firing, and the bad input the issue lists."""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import run_cli

from shared.config import load_config
from shared.cron import (
    CronError,
    add_schedule,
    fire_due,
    get_schedule,
    list_schedules,
    parse_spec,
    remove_schedule,
    run_now,
    set_paused,
)
from shared.queue import Queue

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def schedule(queue, config, now, name="job", prompt="Summarise my inbox", **spec):
    return add_schedule(queue.ledger, config, prompt, parse_spec(now, **spec), name, now)


def run_minutes(queue, start: datetime, end: datetime, step=timedelta(minutes=1)):
    """The heartbeat loop under a fake clock: fire every minute from start to end; returns
    the slots of the runs it made (local times), marking each run finished as it goes."""
    slots, now = [], start.astimezone(UTC)  # a real clock: minutes of time, not of wall
    token = queue.ledger.register_worker()
    while now <= end:
        for job in fire_due(queue, now):
            slots.append(datetime.fromtimestamp(job.slot, PARIS))
            queue.ledger.claim(job.id, token)
            queue.ledger.finish(job.id)
        now += step
    return slots


def test_a_daily_cron_job_fires_once_a_day_across_both_dst_changes(config):
    queue = Queue(config)
    start = paris(2026, 3, 27, 12, 0)
    schedule(queue, config, start, cron="30 2 * * *", tz="Europe/Paris")
    # Spring: 02:30 does not exist on 29 March; Debian cron runs it just after the change.
    slots = run_minutes(queue, start, paris(2026, 3, 31, 3, 0))
    assert slots == [
        paris(2026, 3, 28, 2, 30),
        paris(2026, 3, 29, 3, 0),
        paris(2026, 3, 30, 2, 30),
        paris(2026, 3, 31, 2, 30),
    ]
    assert [s.utcoffset() for s in slots] == [timedelta(hours=h) for h in (1, 2, 2, 2)]


def test_autumn_repeated_hour_runs_a_fixed_time_once_and_an_hourly_job_every_hour(config):
    queue = Queue(config)
    start = paris(2026, 10, 24, 23, 0)
    schedule(queue, config, start, "daily", cron="30 2 * * *", tz="Europe/Paris")
    schedule(queue, config, start, "hourly", cron="0 * * * *", tz="Europe/Paris")
    runs = run_minutes(queue, start, paris(2026, 10, 25, 4, 30))
    daily = [s for s in runs if s.minute == 30]
    hourly = [s.astimezone(UTC).hour for s in runs if s.minute == 0]
    assert len(daily) == 1 and daily[0].utcoffset() == timedelta(hours=2)  # the first 02:30
    # 00:00 .. 04:00 local is 22:00 .. 03:00 UTC: the repeated 02:00 hour runs twice.
    assert hourly == [22, 23, 0, 1, 2, 3]


def test_every_is_a_fixed_period_in_absolute_time(config):
    queue = Queue(config)
    start = paris(2026, 3, 29, 0, 10)
    schedule(queue, config, start, every="1h")
    slots = run_minutes(queue, start, paris(2026, 3, 29, 4, 10))
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in zip(slots, slots[1:], strict=False)}
    assert len(slots) == 3 and gaps == {timedelta(hours=1)}  # 4 h of wall clock, 3 h of time


def test_missed_runs_collapse_into_one_at_start_or_are_skipped(config):
    queue = Queue(config)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    schedule(queue, config, start, "caught", every="1h")
    schedule(queue, config, start, "skipped", every="1h")
    # The system was down for five hours; it starts at 13:20.
    restart = start + timedelta(hours=5, minutes=20)
    made = fire_due(queue, restart, catch_up=True)
    assert len(made) == 2  # one run each: no burst of five
    assert all(job.args["missed"] for job in made)
    assert fire_due(queue, restart + timedelta(seconds=30)) == [], "never run twice"
    nxt = get_schedule(queue.ledger, "caught").next_run
    assert datetime.fromtimestamp(nxt, UTC) == start + timedelta(hours=6)

    config.cron.catch_up = False
    queue2 = Queue(config)
    for job in made:
        queue2.ledger.cancel(job.id)
    later = restart + timedelta(hours=3)
    assert fire_due(queue2, later, catch_up=False) == []
    assert get_schedule(queue2.ledger, "skipped").skipped == 1


def test_a_slot_whose_previous_run_is_still_going_is_skipped(config):
    queue = Queue(config)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    schedule(queue, config, start, every="1m")
    first = fire_due(queue, start + timedelta(minutes=1))
    assert len(first) == 1
    assert fire_due(queue, start + timedelta(minutes=2)) == []  # still queued: no overlap
    assert get_schedule(queue.ledger, "job").skipped == 1
    with pytest.raises(CronError, match="still queued"):
        run_now(queue, "job")


def test_schedules_survive_a_deleted_queue_file_and_runs_are_redelivered(config):
    queue = Queue(config)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    schedule(queue, config, start, every="1h")
    [job] = fire_due(queue, start + timedelta(hours=1))
    assert queue.held_job_ids() == {job.id}
    for suffix in ("", "-wal", "-shm"):
        config.queue_db.with_name(config.queue_db.name + suffix).unlink(missing_ok=True)
    rebuilt = Queue(config)
    assert [s.name for s in list_schedules(rebuilt.ledger)] == ["job"]
    assert rebuilt.held_job_ids() == set()
    assert rebuilt.recover() == [job.id], "the run the lost queue held is handed over again"
    assert rebuilt.held_job_ids() == {job.id}
    assert fire_due(rebuilt, start + timedelta(hours=1, minutes=1)) == [], "nor fired twice"


def _fire(home: str, at: float, out) -> None:
    os.environ["LOCALGPT_HOME"] = home
    out.put([j.id for j in fire_due(Queue(load_config()), datetime.fromtimestamp(at, UTC))])


def test_two_processes_firing_at_once_make_one_run(config):
    queue = Queue(config)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    for i in range(20):
        schedule(queue, config, start, f"job{i}", every="1h")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    at = (start + timedelta(hours=1)).timestamp()
    procs = [ctx.Process(target=_fire, args=(str(config.home), at, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    made = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(60)
    assert sorted(made[0] + made[1]) == sorted(j.id for j in queue.ledger.list(kind="cron"))
    assert len(made[0]) + len(made[1]) == 20 and not set(made[0]) & set(made[1])


def test_at_runs_once_then_the_schedule_is_finished(config):
    queue = Queue(config)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    schedule(queue, config, start, at="2026-12-24T09:00", tz="Europe/Paris")
    assert fire_due(queue, datetime(2026, 12, 24, 7, 59, tzinfo=UTC)) == []
    [job] = fire_due(queue, datetime(2026, 12, 24, 8, 0, tzinfo=UTC))
    assert datetime.fromtimestamp(job.slot, PARIS) == paris(2026, 12, 24, 9, 0)
    assert get_schedule(queue.ledger, "job").status == "finished"
    assert fire_due(queue, datetime(2026, 12, 25, 8, 0, tzinfo=UTC)) == []


def test_pause_resume_run_now_and_remove(config):
    queue = Queue(config)
    start = datetime.now(UTC)
    schedule(queue, config, start, every="1h")
    set_paused(queue.ledger, "job", True)
    assert fire_due(queue, start + timedelta(hours=3)) == []
    resumed = set_paused(queue.ledger, "job", False, now=start + timedelta(hours=3, minutes=5))
    assert resumed.next_run > (start + timedelta(hours=3, minutes=5)).timestamp()
    job = run_now(queue, "job")
    assert job.kind == "cron" and job.args["manual"] and job.session_id == f"cron-{job.id}"
    assert queue.held_job_ids() == {job.id}
    remove_schedule(queue.ledger, "job")
    assert list_schedules(queue.ledger) == []
    assert queue.ledger.get(job.id).schedule_id, "its runs stay in the ledger"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"cron": "61 * * * *"}, "not a valid cron expression: Bad minute"),
        ({"cron": "0 0 31 2 *"}, "not a valid cron expression"),
        ({"cron": "* * * * * *"}, "needs 5 fields"),
        ({"cron": "every day"}, "needs 5 fields"),
        ({"every": "1s"}, "too often: the shortest period is 1m"),
        ({"every": "30s"}, "too often"),
        ({"every": "0"}, "too often"),
        ({"every": "soon"}, "is not like 30m"),
        ({"every": "1h", "tz": "Mars/Olympus"}, "not a known IANA name"),
        ({"at": "2020-01-01T09:00"}, "is in the past"),
        ({"at": "tomorrow"}, "not a date and time"),
        ({"at": "2027-03-28T02:30", "tz": "Europe/Paris"}, "does not exist in Europe/Paris"),
        ({}, "exactly one of"),
        ({"every": "1h", "cron": "0 * * * *"}, "exactly one of"),
    ],
)
def test_bad_schedules_are_refused_clearly(spec, message):
    with pytest.raises(CronError, match=message):
        parse_spec(datetime(2026, 6, 1, tzinfo=UTC), **spec)


def test_names_prompts_and_the_number_of_jobs_are_limited(config):
    queue = Queue(config)
    now = datetime.now(UTC)
    with pytest.raises(CronError, match="empty"):
        schedule(queue, config, now, prompt="  ", every="1h")
    with pytest.raises(CronError, match="name"):
        schedule(queue, config, now, name="../etc", every="1h")
    schedule(queue, config, now, every="1h")
    with pytest.raises(CronError, match="already named"):
        schedule(queue, config, now, every="1h")
    for i in range(1, config.cron.max_jobs):  # the default limit: 1,000
        schedule(queue, config, now, f"j{i}", every="1h")
    with pytest.raises(CronError, match="already 1000 scheduled jobs"):
        schedule(queue, config, now, "one-too-many", every="1h")
    assert len(list_schedules(queue.ledger)) == 1000


def test_the_cli_adds_lists_and_refuses_with_one_line(home):
    done = run_cli("cron", "add", "Water the plants", "--cron", "0 8 * * 1-5", "--name", "water")
    assert done.returncode == 0, done.stderr
    listed = run_cli("cron", "list", "--json")
    [item] = __import__("json").loads(listed.stdout)
    assert item["name"] == "water" and item["status"] == "active" and item["next_run"]
    bad = run_cli("cron", "add", "x", "--every", "1s")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert [ln for ln in bad.stderr.splitlines() if ln.strip()] == [
        "error: --every 1s is too often: the shortest period is 1m (the scheduler works to "
        "the minute)"
    ]
    ran = run_cli("cron", "run-now", "water")
    assert ran.returncode == 0 and "queued run" in ran.stdout
    jobs = __import__("json").loads(run_cli("jobs", "list", "--kind", "cron", "--json").stdout)
    assert len(jobs) == 1 and jobs[0]["state"] == "queued"
    assert run_cli("cron", "remove", "water").returncode == 0
    assert "No scheduled jobs" in run_cli("cron", "list").stdout
