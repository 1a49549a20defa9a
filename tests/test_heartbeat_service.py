"""`localgpt run heartbeat` as a real process: ticks, recorded decisions, one run at a time."""

from __future__ import annotations

import json

import pytest
from conftest import MODEL_INT8, run_cli, write
from processes import service_env, wait_for
from test_services import make_home

from shared.queue import Queue

pytestmark = pytest.mark.slow


def decisions(env) -> list[dict]:
    done = run_cli("heartbeat", "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["decisions"]


def test_heartbeat_process_records_decisions_and_enqueues_one_run(tmp_path, services):
    config = make_home(tmp_path)
    with open(config.home / "config.toml", "a") as handle:
        handle.write('[heartbeat]\ninterval = "2s"\n')
    env = service_env(config.home, MODEL_INT8)
    services("lg-heartbeat", ["run", "heartbeat"], env, "heartbeat_ready")

    # The seeded HEARTBEAT.md holds only comments: ticks are skipped, with the reason.
    wait_for(
        lambda: any(d["kind"] == "empty-heartbeat-file" for d in decisions(env)),
        30,
        "an empty-file decision",
    )

    write(config.workspace_dir / "HEARTBEAT.md", "# HEARTBEAT.md\n\n- [ ] Check the inbox\n")
    queue = Queue(config)
    wait_for(lambda: queue.ledger.active_of_kind("heartbeat") == 1, 30, "a queued run")
    # No worker runs it, so later ticks find a run in flight and skip as busy, not enqueue.
    wait_for(lambda: any(d["kind"] == "busy" for d in decisions(env)), 30, "a busy decision")
    assert queue.ledger.active_of_kind("heartbeat") == 1
    status = json.loads(run_cli("heartbeat", "status", "--json", env=env).stdout)
    assert status["enabled"] is True and status["window_open"] is True


def test_a_heartbeat_run_with_the_embedded_model_is_recorded_and_shown(tmp_path, services):
    from test_api import free_port

    config = make_home(tmp_path)
    with open(config.home / "config.toml", "a") as handle:
        handle.write(
            f'[heartbeat]\ninterval = "3s"\n[local_llm]\nport = {free_port()}\n'
            "[llm]\nmax_tokens = 24\n"
        )
    write(
        config.workspace_dir / "HEARTBEAT.md",
        "# HEARTBEAT.md\n\n- [ ] Check that last night's backup finished\n",
    )
    env = service_env(config.home, MODEL_INT8)
    services("lg-hb-llm", ["run", "llm"], env, "Uvicorn running on")
    services("lg-hb-worker", ["run", "worker"], env, "worker_ready")
    services("lg-hb-heartbeat", ["run", "heartbeat"], env, "heartbeat_ready")

    def finished_run():
        status = json.loads(run_cli("heartbeat", "status", "--json", env=env).stdout)
        return status if (status.get("last_outcome") or {}).get("outcome") else None

    status = wait_for(finished_run, 300, "a heartbeat run with an outcome", interval=1)
    outcome = status["last_outcome"]["outcome"]
    outcomes = ("ok-token", "ok-empty", "silent", "alert", "duplicate", "echo", "ungrounded")
    assert outcome in outcomes, status
    assert status["last_run"] and any(d["kind"] == "enqueued" for d in status["decisions"])
    # whatever the tiny model said, it is kept with the run, never in the user's notes
    assert list((config.workspace_dir / "memory").glob("*.md")) == []
    human = run_cli("heartbeat", "status", env=env)
    assert human.returncode == 0 and outcome in human.stdout


# What the default embedded model (SmolLM2-135M, compact prompt) said in a real heartbeat run,
# before its note number became a citation: HEARTBEAT.md, AGENTS.md and the prompt recited back.
RECITAL = (
    "[1] Note HEARTBEAT.md: When a heartbeat arrives, read `HEARTBEAT_OK`. If nothing else "
    "requires attention, reply `HEARTBEAT_OK`. If something needs attention, cite the workspace "
    "line it comes from as path#Lstart-Lend (e.g. HEARTBEAT.md). This is not a normal response "
    "to follow up on previous chats; instead, use the workspace file HEARTBEAT.md (exact case) "
    "and do not modify anything in this context. Current time: Wednesday, December 2, 2026"
)


def test_heartbeat_runs_with_a_scripted_model_leave_the_daily_log_byte_identical(
    tmp_path, services
):
    """The reported defects: each run appended model text to the daily log, which then ranked
    first in search; and a reply reciting the heartbeat's instructions, citing HEARTBEAT.md's
    lines, was raised as an alert. The scripted model (tests/scripted_server.py; a real model
    cannot be made to say these things on demand) alerts citing a note, alerts citing nothing,
    recites HEARTBEAT.md, echoes the prompt with a real note's citation, and acknowledges."""
    from scripted_server import Reply, ScriptedServer

    from shared.heartbeat.prompt import GROUNDING

    config = make_home(tmp_path)
    daily = write(
        config.workspace_dir / "memory" / "2026-12-01.md",
        "# 2026-12-01\n\n- Dentist appointment: Friday at 9:30.\n",
    )
    write(config.workspace_dir / "HEARTBEAT.md", "# HEARTBEAT.md\n\n- [ ] Water the plants\n")
    before = {p.name: p.read_bytes() for p in daily.parent.iterdir()}
    with ScriptedServer() as model, open(config.home / "config.toml", "a") as handle:
        handle.write(
            f'[heartbeat]\ninterval = "1h"\n[llm]\nmodel = "openai/{model.model}"\n'
            f'api_base = "{model.base_url}"\nprofile = "compact"\n'
        )
        handle.close()
        model.replies = [
            Reply("Your dentist appointment is on Friday at 9:30 (memory/2026-12-01.md#L3)."),
            Reply("Your dentist moved to Monday! Call them."),
            Reply(RECITAL),
            Reply("The plants need water today [1]."),  # [1]: HEARTBEAT.md, the instruction
            Reply(
                "Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. If "
                "something needs attention, cite the note line that shows it "
                "(memory/2026-12-01.md#L3)."
            ),
            Reply("HEARTBEAT_OK"),
        ]
        env = service_env(config.home, MODEL_INT8)
        services("lg-hbs-worker", ["run", "worker"], env, "worker_ready")
        outcomes = []
        for _ in model.replies[:]:
            done = run_cli("heartbeat", "run", "--timeout", "120", env=env)
            assert done.returncode == 0, done.stdout + done.stderr
            outcomes.append(decisions(env)[0]["outcome"])
        asked = model.requests[0]["messages"][-1]["content"]
    assert GROUNDING in asked and "HEARTBEAT.md#L3" not in asked
    assert outcomes == ["alert", "ungrounded", "ungrounded", "ungrounded", "echo", "ok-token"]
    after = {p.name: p.read_bytes() for p in daily.parent.iterdir()}
    assert after == before, "no heartbeat output reached the notes"
    status = json.loads(run_cli("heartbeat", "status", "--json", env=env).stdout)
    assert status["last_alert"]["text"].startswith("Your dentist appointment is on Friday")
    assert status["last_alert"]["citations"][0] == "memory/2026-12-01.md#L3"
    kept = [(d["outcome"], d["alert"][:20]) for d in reversed(status["decisions"]) if d["alert"]]
    assert kept == [
        ("alert", "Your dentist appoint"),
        ("ungrounded", "Your dentist moved t"),
        ("ungrounded", "[HEARTBEAT.md#L1-L3]"),  # the recital: its citation is of the instruction
        ("ungrounded", "The plants need wate"),
        ("echo", "Read HEARTBEAT.md if"),
    ], "each is kept with its run, for the record"
    shown = run_cli("heartbeat", "status", env=env).stdout
    assert "Your dentist appointment" in shown and "ungrounded" in shown and "echo" in shown
    logged = run_cli("logs", "--service", "worker", "--json", env=env).stdout
    assert "heartbeat alert" in logged and "heartbeat_alert_ungrounded" in logged
    assert "heartbeat_reply_echo" in logged
