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
    wait_for(lambda: queue.ledger.active_of_kind("heartbeat_run") == 1, 30, "a queued run")
    # No worker runs it, so later ticks find a run in flight and skip as busy, not enqueue.
    wait_for(lambda: any(d["kind"] == "busy" for d in decisions(env)), 30, "a busy decision")
    assert queue.ledger.active_of_kind("heartbeat_run") == 1
    status = json.loads(run_cli("heartbeat", "status", "--json", env=env).stdout)
    assert status["enabled"] is True and status["window_open"] is True
