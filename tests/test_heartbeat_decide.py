"""decide(): every skip reason, the fixed-period grid, busy retry, restart and persisted state.

The clock is injected: each test passes `now`, nothing sleeps.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest
from conftest import write

from shared.config import DEFAULT_HEARTBEAT_PROMPT, ConfigError, load_config
from shared.heartbeat.decide import decide
from shared.heartbeat.prompt import TASKS_ACK, TASKS_INTRO
from shared.heartbeat.run import complete_run, fail_run
from shared.heartbeat.schedule import ScheduleError
from shared.heartbeat.state import HeartbeatStore

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
CHECKLIST = "# HEARTBEAT.md\n\n- [ ] Check the inbox for anything urgent\n"
TASKS = """\
# HEARTBEAT.md

tasks:

- name: inbox
  interval: 30m
  prompt: "Check the inbox."
- name: calendar
  interval: 2h
  prompt: "Check tomorrow's calendar."

# Notes
- Keep alerts short.
"""


@pytest.fixture
def store(tmp_path) -> HeartbeatStore:
    return HeartbeatStore(tmp_path / "data" / "heartbeat.db")


@pytest.fixture
def hb(config, workspace):
    """The [heartbeat] section, in UTC so the tests read plainly, with a real checklist."""
    config.heartbeat.timezone = "UTC"
    write(workspace / "HEARTBEAT.md", CHECKLIST)
    return config.heartbeat


def tick(now, hb, store, workspace, busy=False, **kwargs):
    return decide(now, hb, store, workspace, busy, **kwargs)


def started(hb, store, workspace):
    """First start at T0: the first slot is one interval later."""
    first = tick(T0, hb, store, workspace)
    assert (first.kind, first.next_due, first.id) == ("not-due", T0 + 30 * M, None)
    return T0 + 30 * M


def rows(store):
    with store.reading() as txn:
        return txn.decisions(100)


def test_state_is_a_real_sqlite_file(store):
    conn = sqlite3.connect(store.path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"heartbeat_state", "heartbeat_tasks", "heartbeat_decisions", "heartbeat_alerts"} <= (
        tables
    )


def test_first_start_waits_one_interval_and_records_nothing(hb, store, workspace):
    slot = started(hb, store, workspace)
    early = tick(slot - timedelta(seconds=1), hb, store, workspace)
    assert early.kind == "not-due" and early.next_due == slot
    assert rows(store) == []
    due = tick(slot, hb, store, workspace)
    assert due.kind == "enqueued" and due.next_due == slot + 30 * M
    assert due.id is not None and due.slot == slot


def test_restart_mid_interval_resumes_on_time(hb, store, workspace):
    slot = started(hb, store, workspace)
    assert tick(slot, hb, store, workspace).kind == "enqueued"
    restarted = HeartbeatStore(store.path)  # a new process: same file, fresh object
    mid = tick(slot + 10 * M, hb, restarted, workspace)
    assert (mid.kind, mid.next_due) == ("not-due", slot + 30 * M)  # neither now nor skipped
    assert tick(slot + 30 * M, hb, restarted, workspace).kind == "enqueued"


def test_fixed_period_slow_run_and_late_tick(hb, store, workspace):
    slot = started(hb, store, workspace)
    run = tick(slot, hb, store, workspace)
    # the run takes 20 minutes; its end does not move the next slot
    complete_run(slot + 20 * M, hb, store, workspace, run.id, "HEARTBEAT_OK")
    assert tick(slot + 29 * M, hb, store, workspace).kind == "not-due"
    late = tick(slot + 37 * M, hb, store, workspace)  # the loop woke 7 minutes late
    assert late.kind == "enqueued" and late.slot == slot + 30 * M
    assert late.next_due == slot + 60 * M  # the grid, not 37 + 30


def test_long_downtime_fires_once(hb, store, workspace):
    slot = started(hb, store, workspace)
    back = slot + timedelta(hours=5, minutes=7)
    once = tick(back, hb, store, workspace)
    assert once.kind == "enqueued"
    assert once.next_due == slot + timedelta(hours=5, minutes=30)
    assert tick(back + timedelta(seconds=1), hb, store, workspace).kind == "not-due"
    assert [r.kind for r in rows(store)] == ["enqueued"]


def test_busy_retries_shortly_and_keeps_the_grid(hb, store, workspace):
    slot = started(hb, store, workspace)
    first = tick(slot, hb, store, workspace, busy=True)
    assert first.kind == "busy"
    assert first.next_due == slot + timedelta(seconds=30)
    assert "retrying in 30s" in first.reason
    assert tick(slot + timedelta(seconds=10), hb, store, workspace).kind == "not-due"
    again = tick(slot + timedelta(seconds=30), hb, store, workspace, busy=True)
    assert again.kind == "busy" and again.id == first.id  # folded into one row
    run = tick(slot + timedelta(seconds=60), hb, store, workspace)
    assert run.kind == "enqueued" and run.next_due == slot + 30 * M
    history = rows(store)
    assert [(r.kind, r.repeats) for r in history] == [("enqueued", 1), ("busy", 2)]


def test_busy_past_the_next_slot_runs_once_then_follows_the_grid(hb, store, workspace):
    slot = started(hb, store, workspace)
    now = slot
    while now < slot + 35 * M:  # a run that keeps going for 35 minutes
        decision = tick(now, hb, store, workspace, busy=True)
        assert decision.kind == "busy"
        now = decision.next_due
    done = tick(now, hb, store, workspace)
    assert done.kind == "enqueued"
    assert done.next_due == slot + 60 * M


def test_disabled(hb, store, workspace):
    started(hb, store, workspace)
    hb.interval = "0"
    off = tick(T0 + 5 * M, hb, store, workspace)
    assert (off.kind, off.next_due, off.reason) == ("disabled", None, "heartbeat.interval is 0")
    again = tick(T0 + 6 * M, hb, store, workspace)
    assert again.kind == "disabled" and again.id == off.id
    assert rows(store)[0].repeats == 2
    hb.interval = "30m"
    back = tick(T0 + 7 * M, hb, store, workspace)
    assert (back.kind, back.next_due) == ("not-due", T0 + 37 * M)


def test_quiet_hours_wait_for_the_window(hb, store, workspace):
    hb.interval = "30m"
    hb.timezone = "Europe/Berlin"
    hb.active_start, hb.active_end = "09:00", "17:00"
    tick(datetime(2026, 6, 1, 14, 40, tzinfo=UTC), hb, store, workspace)  # first start
    evening = datetime(2026, 6, 1, 15, 10, tzinfo=UTC)  # 17:10 in Berlin
    quiet = tick(evening, hb, store, workspace)
    opens = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 CEST
    assert quiet.kind == "quiet-hours"
    assert quiet.next_due == opens
    assert "outside active hours 09:00-17:00 Europe/Berlin" in quiet.reason
    assert "opens 2026-06-02T09:00:00+02:00" in quiet.reason
    assert tick(opens - M, hb, store, workspace).kind == "not-due"
    morning = tick(opens, hb, store, workspace)
    assert morning.kind == "enqueued" and morning.next_due == opens + 30 * M


def test_empty_heartbeat_file_skips_without_a_run(hb, store, workspace):
    write(workspace / "HEARTBEAT.md", "# HEARTBEAT.md\n\n# Add tasks below\n- [ ]\n<!-- x -->\n")
    slot = started(hb, store, workspace)
    skip = tick(slot, hb, store, workspace)
    assert skip.kind == "empty-heartbeat-file" and skip.prompt is None
    assert skip.next_due == slot + 30 * M
    again = tick(slot + 30 * M, hb, store, workspace, busy=True)  # the file rule comes first
    assert again.kind == "empty-heartbeat-file" and again.id == skip.id
    with store.reading() as txn:
        assert txn.snapshot().last_run_at is None


def test_missing_heartbeat_file_still_runs(hb, store, workspace):
    (workspace / "HEARTBEAT.md").unlink()
    slot = started(hb, store, workspace)
    run = tick(slot, hb, store, workspace)
    assert run.kind == "enqueued"
    assert "missing" in run.reason
    assert run.prompt.startswith(DEFAULT_HEARTBEAT_PROMPT)
    hint = f"use workspace file {workspace.as_posix()}/HEARTBEAT.md (exact case)"
    assert hint in run.prompt
    assert run.prompt.endswith("(UTC) / 2026-06-01 10:30 UTC")
    assert "Current time: Monday, June 1, 2026, 10:30" in run.prompt


def test_tasks_run_only_when_due(hb, store, workspace):
    write(workspace / "HEARTBEAT.md", TASKS)
    slot = started(hb, store, workspace)
    first = tick(slot, hb, store, workspace)
    assert first.kind == "enqueued" and first.due_tasks == ("inbox", "calendar")
    assert first.prompt.startswith(TASKS_INTRO)
    assert "- inbox: Check the inbox.\n- calendar: Check tomorrow's calendar." in first.prompt
    assert TASKS_ACK in first.prompt
    assert "Additional context from HEARTBEAT.md:\n# HEARTBEAT.md\n\n# Notes" in first.prompt
    complete_run(slot + 3 * M, hb, store, workspace, first.id, "HEARTBEAT_OK")
    second = tick(slot + 30 * M, hb, store, workspace)
    assert second.due_tasks == ("inbox",)
    complete_run(slot + 31 * M, hb, store, workspace, second.id, "HEARTBEAT_OK")
    assert tick(slot + 60 * M, hb, store, workspace).due_tasks == ("inbox",)


def test_no_tasks_due(hb, store, workspace):
    write(workspace / "HEARTBEAT.md", TASKS.replace("interval: 30m", "interval: 2h"))
    slot = started(hb, store, workspace)
    run = tick(slot, hb, store, workspace)
    complete_run(slot + M, hb, store, workspace, run.id, "HEARTBEAT_OK")
    skip = tick(slot + 30 * M, hb, store, workspace)
    assert skip.kind == "no-tasks-due"
    assert skip.reason == "none of the 2 tasks in HEARTBEAT.md is due"
    assert skip.next_due == slot + 60 * M
    assert tick(slot + 120 * M, hb, store, workspace).due_tasks == ("inbox", "calendar")


def test_unusable_task_interval_is_explained(hb, store, workspace):
    write(workspace / "HEARTBEAT.md", "tasks:\n- name: odd\n  interval: soon\n  prompt: p\n")
    slot = started(hb, store, workspace)
    run = tick(slot, hb, store, workspace)  # never run yet: due
    complete_run(slot, hb, store, workspace, run.id, "HEARTBEAT_OK")
    skip = tick(slot + 30 * M, hb, store, workspace)
    assert skip.kind == "no-tasks-due"
    assert "unusable interval, never due: odd" in skip.reason


def test_a_failed_run_leaves_its_tasks_due(hb, store, workspace):
    write(workspace / "HEARTBEAT.md", TASKS)
    slot = started(hb, store, workspace)
    run = tick(slot, hb, store, workspace)
    fail_run(slot + M, store, run.id, "model timed out")
    assert tick(slot + 30 * M, hb, store, workspace).due_tasks == ("inbox", "calendar")


def test_manual_run_bypasses_only_the_schedule(hb, store, workspace):
    slot = started(hb, store, workspace)
    now = T0 + 5 * M
    manual = tick(now, hb, store, workspace, manual=True)
    assert manual.kind == "enqueued" and manual.manual and manual.slot == now
    assert manual.next_due == slot  # the schedule is untouched
    assert tick(now + M, hb, store, workspace).next_due == slot
    assert tick(now, hb, store, workspace, busy=True, manual=True).kind == "busy"
    assert tick(now + M, hb, store, workspace).next_due == slot  # no retry was scheduled
    write(workspace / "HEARTBEAT.md", "# nothing\n")
    assert tick(now, hb, store, workspace, manual=True).kind == "empty-heartbeat-file"
    hb.active_start, hb.active_end = "00:00", "00:00"
    assert tick(now, hb, store, workspace, manual=True).kind == "quiet-hours"


def test_interval_change_applies_from_now(hb, store, workspace):
    hb.interval = "2h"
    tick(T0, hb, store, workspace)  # first slot at T0 + 2h
    hb.interval = "30m"
    changed = tick(T0 + 10 * M, hb, store, workspace)
    assert (changed.kind, changed.next_due) == ("not-due", T0 + 40 * M)


def test_bad_input_is_refused(hb, store, workspace):
    with pytest.raises(ValueError, match="timezone-aware"):
        tick(datetime(2026, 6, 1, 10, 0), hb, store, workspace)
    hb.active_start = "9 o'clock"
    hb.active_end = "17:00"
    with pytest.raises(ScheduleError, match="heartbeat.active_start"):
        tick(T0, hb, store, workspace)


def test_two_ticks_at_once_enqueue_once(hb, store, workspace):
    slot = started(hb, store, workspace)
    barrier = threading.Barrier(4)
    kinds: list[str] = []

    def racer():
        other = HeartbeatStore(store.path)  # each its own connection, like two processes
        barrier.wait()
        kinds.append(tick(slot, hb, other, workspace).kind)

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kinds) == ["enqueued", "not-due", "not-due", "not-due"]


def test_decisions_are_pruned_by_retention_but_the_latest_20_stay(hb, store, workspace):
    hb.retention_days = 1
    started(hb, store, workspace)
    for minute in range(25):
        tick(T0 + minute * M, hb, store, workspace, manual=True)
    assert len(rows(store)) == 25
    tick(T0 + timedelta(days=2), hb, store, workspace, manual=True)
    kept = rows(store)
    assert len(kept) == 20
    assert kept[0].at == T0 + timedelta(days=2)


def test_clock_going_back_does_not_stall_the_heartbeat(hb, store, workspace):
    started(hb, store, workspace)  # slot at T0 + 30m
    back = T0 - timedelta(hours=5)  # the clock was 5 hours fast and got corrected
    decision = tick(back, hb, store, workspace)
    assert (decision.kind, decision.next_due) == ("not-due", back + 30 * M)
    assert tick(back + 30 * M, hb, store, workspace).kind == "enqueued"


def test_changing_active_hours_takes_effect_at_once(hb, store, workspace):
    hb.active_start, hb.active_end = "09:00", "17:00"
    tick(datetime(2026, 6, 1, 16, 40, tzinfo=UTC), hb, store, workspace)
    quiet = tick(datetime(2026, 6, 1, 17, 10, tzinfo=UTC), hb, store, workspace)
    assert quiet.next_due == datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    hb.active_start, hb.active_end = "00:00", "24:00"
    now = datetime(2026, 6, 1, 17, 20, tzinfo=UTC)
    assert tick(now, hb, store, workspace).next_due == now + 30 * M


def test_full_config_from_config_toml(home, workspace, store):
    write(
        home / "config.toml",
        '[heartbeat]\ninterval = "1h30m"\ntimezone = "UTC"\n'
        'active_start = "08:00"\nactive_end = "24:00"\nack_max_chars = 10\n',
    )
    config = load_config()
    write(workspace / "HEARTBEAT.md", CHECKLIST)
    first = decide(T0, config, store, workspace, False)
    assert first.next_due == T0 + timedelta(minutes=90)
    run = decide(T0 + timedelta(minutes=90), config, store, workspace, False)
    out = complete_run(T0 + 91 * M, config, store, workspace, run.id, "HEARTBEAT_OK 12345678901")
    # 11 characters left, over ack_max_chars = 10: an alert, and one citing no line
    assert out.outcome == "ungrounded"
    write(home / "config.toml", "[heartbeat]\ninterval = 0\n")
    with pytest.raises(ConfigError, match="heartbeat.interval .* must be str"):
        load_config()
