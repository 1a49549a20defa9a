"""A run's reply becomes an outcome (ack, silent, alert, duplicate), and status shows it all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import write

from shared.config import DEFAULT_HEARTBEAT_PROMPT
from shared.heartbeat.decide import decide
from shared.heartbeat.prompt import build_prompt
from shared.heartbeat.run import complete_run, fail_run
from shared.heartbeat.state import HeartbeatStore
from shared.heartbeat.status import heartbeat_status

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
BACKUP_NOTE = "# NAS\n\nThe nightly backup failed on 30 and 31 May (disk full).\n"
APPOINTMENTS = (
    "# Heartbeat\n\n- [ ] Check whether any appointment is in the next 7 days and remind me.\n"
)
# The reply the default embedded model (SmolLM2-135M, compact prompt) gave in a real run.
RECITAL = (
    "[HEARTBEAT.md#L1-L3] Note HEARTBEAT.md: When a heartbeat arrives, read `HEARTBEAT_OK`. "
    "If nothing else requires attention, reply `HEARTBEAT_OK`. If something needs attention, "
    "cite the workspace line it comes from as path#Lstart-Lend (e.g. HEARTBEAT.md). This is not "
    "a normal response to follow up on previous chats; instead, use the workspace file "
    "HEARTBEAT.md (exact case) and do not modify anything in this context. Current time: "
    "Wednesday, December 2, 2026"
)
# The prompt that run was given (before the grounding line stopped naming HEARTBEAT.md).
RECORDED_PROMPT = (
    "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. Do not infer or "
    "repeat old tasks from prior chats. If nothing needs attention, reply HEARTBEAT_OK.\n"
    "When reading HEARTBEAT.md, use workspace file /tmp/lead/uhome/workspace/HEARTBEAT.md (exact "
    "case). Do not read docs/heartbeat.md.\nIf something needs attention, cite the workspace "
    "line it comes from as path#Lstart-Lend (e.g. HEARTBEAT.md#L3); an alert without such a "
    "citation is not raised.\nCurrent time: Wednesday, December 2, 2026, 12:45 (Etc/UTC) / "
    "2026-12-02 12:45 UTC"
)


@pytest.fixture
def store(tmp_path) -> HeartbeatStore:
    return HeartbeatStore(tmp_path / "heartbeat.db")


@pytest.fixture
def hb(config, workspace):
    config.heartbeat.timezone = "UTC"
    write(workspace / "HEARTBEAT.md", "- [ ] Check the backups\n")
    return config.heartbeat


def enqueue(now, hb, store, workspace):
    decision = decide(now, hb, store, workspace, False, manual=True)
    assert decision.kind == "enqueued"
    return decision


def test_ack_is_not_news(hb, store, workspace):
    run = enqueue(T0, hb, store, workspace)
    out = complete_run(T0 + M, hb, store, workspace, run.id, "**HEARTBEAT_OK** all fine")
    assert (out.outcome, out.text, out.daily_log) == ("ok-token", "", None)
    assert not (workspace / "memory" / "2026-06-01.md").exists()
    silent = complete_run(
        T0 + 2 * M, hb, store, workspace, enqueue(T0, hb, store, workspace).id, "NO_REPLY"
    )
    assert silent.outcome == "silent"


def test_alert_is_kept_with_the_run_not_in_the_daily_log_once_per_24h(hb, store, workspace):
    log = write(workspace / "memory" / "2026-06-01.md", "# 2026-06-01\n\nUser's own notes.\n")
    write(workspace / "HEARTBEAT.md", "# Heartbeat\n\n- [ ] Check the backup\n")
    write(workspace / "knowledge" / "nas.md", BACKUP_NOTE)
    before = log.read_bytes()
    said = "Backup failed twice (knowledge/nas.md#L3)."
    first = complete_run(T0, hb, store, workspace, enqueue(T0, hb, store, workspace).id, said)
    assert (first.outcome, first.citations, first.daily_log) == (
        "alert",
        ["knowledge/nas.md#L3"],
        None,
    )
    later = T0 + timedelta(hours=3)
    dup = complete_run(
        later,
        hb,
        store,
        workspace,
        enqueue(later, hb, store, workspace).id,
        said.replace(" ", "  "),
    )
    assert dup.outcome == "duplicate" and dup.daily_log is None
    assert log.read_bytes() == before, "the user's notes are untouched"
    status = heartbeat_status(later, hb, store)
    assert status["last_run"]["outcome"] == "duplicate"
    assert status["last_alert"]["text"] == said
    assert status["last_alert"]["citations"] == ["knowledge/nas.md#L3"]
    assert status["decisions"][0]["alert"] == said.replace(" ", "  ")


def test_an_alert_citing_nothing_real_is_ungrounded_and_not_raised(hb, store, workspace):
    said = "Your dentist is tomorrow (memory/2031-01-01.md#L4)! Also the roof leaks."
    out = complete_run(T0, hb, store, workspace, enqueue(T0, hb, store, workspace).id, said)
    assert (out.outcome, out.citations) == ("ungrounded", [])
    status = heartbeat_status(T0, hb, store)
    assert status["last_alert"] is None
    assert status["last_outcome"]["outcome"] == "ungrounded"
    assert status["decisions"][0]["alert"] == said  # kept with the run, for the record
    assert not (workspace / "memory" / "2026-06-01.md").exists()


def test_an_alert_citing_only_heartbeat_md_is_ungrounded(hb, store, workspace):
    """HEARTBEAT.md says what to check; it is no evidence that something needs attention."""
    write(workspace / "HEARTBEAT.md", "# Heartbeat\n\n- [ ] Check the backup\n")
    said = "Backup failed twice (HEARTBEAT.md#L3)."
    out = complete_run(T0, hb, store, workspace, enqueue(T0, hb, store, workspace).id, said)
    assert (out.outcome, out.citations) == ("ungrounded", [])
    assert heartbeat_status(T0, hb, store)["last_alert"] is None


def test_a_reply_restating_its_instructions_is_an_echo_not_an_alert(hb, store, workspace):
    """What the default embedded model said in a real run: the prompt, HEARTBEAT.md and the
    seeded AGENTS.md's heartbeat lines recited back, citing HEARTBEAT.md's lines (which exist)."""
    write(workspace / "HEARTBEAT.md", APPOINTMENTS)
    write(workspace / "knowledge" / "nas.md", BACKUP_NOTE)
    prompt = build_prompt(DEFAULT_HEARTBEAT_PROMPT, None, [], workspace, T0, UTC)
    for said, given in (
        (RECITAL, RECORDED_PROMPT),
        # the prompt echoed, with a citation of a real note attached
        (
            "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. "
            "If nothing needs attention, reply HEARTBEAT_OK. (knowledge/nas.md#L3)",
            prompt,
        ),
        ("Check whether any appointment is in the next 7 days [HEARTBEAT.md#L3]", prompt),
    ):
        run = enqueue(T0, hb, store, workspace)
        out = complete_run(T0, hb, store, workspace, run.id, said, given)
        assert (out.outcome, out.text, out.daily_log) == ("echo", said, None), said
        row = heartbeat_status(T0, hb, store)["decisions"][0]
        assert (row["outcome"], row["alert"]) == ("echo", said)  # kept, for the record
        assert "restates its instructions" in row["detail"]
    # the same recital under today's prompt shares less with it, but cites only HEARTBEAT.md
    out = complete_run(
        T0, hb, store, workspace, enqueue(T0, hb, store, workspace).id, RECITAL, prompt
    )
    assert out.outcome == "ungrounded"
    assert heartbeat_status(T0, hb, store)["last_alert"] is None
    assert not (workspace / "memory" / "2026-06-01.md").exists()
    # a real alert about a note is raised, even when it quotes the task it comes from
    said = (
        "Backup failed twice on the NAS (knowledge/nas.md#L3); no appointment in the next 7 days."
    )
    out = complete_run(T0, hb, store, workspace, enqueue(T0, hb, store, workspace).id, said, prompt)
    assert (out.outcome, out.citations) == ("alert", ["knowledge/nas.md#L3"])


def test_unknown_decision_is_refused_before_logging(hb, store, workspace):
    skip = decide(T0, hb, store, workspace, True, manual=True)  # busy: not a run
    for decision_id in (skip.id, 999):
        with pytest.raises(KeyError):
            complete_run(T0, hb, store, workspace, decision_id, "Something broke")
    assert not (workspace / "memory" / "2026-06-01.md").exists()


def test_status_shape_and_json(hb, store, workspace):
    status = heartbeat_status(T0, hb, store)
    assert status == {
        "enabled": True,
        "interval": "30m",
        "timezone": "UTC",
        "active_hours": None,
        "window_open": True,
        "window_opens_at": None,
        "next_due": None,
        "last_run": None,
        "last_outcome": None,
        "last_alert": None,
        "decisions": [],
    }
    decide(T0, hb, store, workspace, False)  # first start schedules T0 + 30m
    run = decide(T0 + 30 * M, hb, store, workspace, False)
    status = heartbeat_status(T0 + 31 * M, hb, store)
    assert status["next_due"] == (T0 + 60 * M).isoformat()
    assert status["last_run"]["outcome"] is None, "still going"
    assert status["decisions"][0]["kind"] == "enqueued"
    assert status["decisions"][0]["reason"] == "HEARTBEAT.md has content"
    fail_run(T0 + 40 * M, store, run.id, "model timed out")
    status = heartbeat_status(T0 + 41 * M, hb, store)
    assert status["last_run"]["outcome"] == "failed"
    assert status["last_run"]["detail"] == "model timed out"
    assert status["decisions"][0]["outcome"] == "failed"
    json.dumps(status)  # what `heartbeat status --json` prints


def test_status_while_a_run_is_going_keeps_the_previous_outcome(hb, store, workspace):
    first = enqueue(T0, hb, store, workspace)
    complete_run(T0 + M, hb, store, workspace, first.id, "HEARTBEAT_OK")
    second = enqueue(T0 + 30 * M, hb, store, workspace)
    status = heartbeat_status(T0 + 31 * M, hb, store)
    assert status["last_run"]["decision_id"] == second.id
    assert status["last_run"]["outcome"] is None
    assert status["last_outcome"]["decision_id"] == first.id
    assert status["last_outcome"]["outcome"] == "ok-token"


def test_status_shows_the_last_20_decisions_newest_first(hb, store, workspace):
    for minute in range(25):
        decide(T0 + minute * M, hb, store, workspace, minute % 2 == 0, manual=True)
    decisions = heartbeat_status(T0 + 30 * M, hb, store)["decisions"]
    assert len(decisions) == 20
    assert decisions[0]["at"] == (T0 + 24 * M).isoformat()
    assert decisions[-1]["at"] == (T0 + 5 * M).isoformat()
    assert {d["kind"] for d in decisions} == {"busy", "enqueued"}


def test_status_in_quiet_hours_and_when_disabled(hb, store, workspace):
    hb.timezone = "Europe/Berlin"
    hb.active_start, hb.active_end = "22:00", "07:00"
    status = heartbeat_status(T0, hb, store)  # 12:00 in Berlin
    assert status["window_open"] is False
    assert status["active_hours"] == "22:00-07:00 Europe/Berlin"
    assert status["window_opens_at"] == datetime(2026, 6, 1, 20, 0, tzinfo=UTC).isoformat()
    hb.interval = "0"
    off = heartbeat_status(T0, hb, store)
    assert off["enabled"] is False and off["next_due"] is None


def test_status_reports_a_bad_config_instead_of_failing(hb, store, workspace):
    hb.interval = "every now and then"
    status = heartbeat_status(T0, hb, store)
    assert status["enabled"] is False
    assert "heartbeat.interval" in status["config_error"]
    assert status["decisions"] == []


def test_last_alert_outlives_the_dedup_window(hb, store, workspace):
    run = enqueue(T0, hb, store, workspace)
    write(workspace / "knowledge" / "nas.md", BACKUP_NOTE)
    complete_run(T0, hb, store, workspace, run.id, "Backup failed twice. knowledge/nas.md#L3")
    later = T0 + timedelta(hours=30)
    decide(later, hb, store, workspace, True, manual=True)  # a decision prunes old records
    last = heartbeat_status(later, hb, store)["last_alert"]
    assert last["preview"] == "Backup failed twice. knowledge/nas.md#L3"


def test_log_alerts_to_daily_appends_the_alert_marked_as_the_assistants(config, workspace):
    from shared.heartbeat.state import HeartbeatStore as Store

    config.heartbeat.log_alerts_to_daily = True
    config.heartbeat.timezone = "UTC"
    write(workspace / "HEARTBEAT.md", "# Heartbeat\n\n- [ ] Check the backup\n")
    write(workspace / "knowledge" / "nas.md", BACKUP_NOTE)
    store = Store(config.heartbeat_db)
    run = decide(T0, config, store, workspace, False, manual=True)
    out = complete_run(T0, config, store, workspace, run.id, "Backup failed. knowledge/nas.md#L3")
    assert out.outcome == "alert" and out.daily_log == "memory/2026-06-01.md"
    text = (workspace / out.daily_log).read_text()
    assert f"session=heartbeat-{run.id} -->\n### Heartbeat alert 10:00" in text
    assert text.rstrip().endswith(
        "Backup failed. knowledge/nas.md#L3\n<!-- /localgpt:assistant -->"
    )
