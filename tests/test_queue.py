"""The queue and its ledger on a real queue.db: durable states, recovery, retries."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from shared.jobs import retry_delay
from shared.ledger import JobError
from shared.queue import Queue


def test_enqueue_records_the_job_before_huey_holds_it(config):
    queue = Queue(config)
    job_id = queue.enqueue("index_paths", paths=["memory/a.md"])
    job = queue.ledger.get(job_id)
    assert (job.kind, job.state, job.args) == ("index_paths", "queued", {"paths": ["memory/a.md"]})
    assert queue.held_job_ids() == {job_id}
    assert queue.stats()["queue_depth"] == 1


def test_a_job_is_claimed_once_and_finishes(config):
    queue = Queue(config)
    job_id = queue.enqueue("reconcile")
    worker = queue.ledger.register_worker()
    assert queue.ledger.claim(job_id, worker).attempts == 1
    assert queue.ledger.claim(job_id, worker) is None, "a duplicate delivery does not run it"
    queue.ledger.finish(job_id, summary={"files_indexed": 3})
    assert queue.ledger.get(job_id).state == "succeeded"
    assert queue.ledger.get(job_id).summary == {"files_indexed": 3}
    assert queue.ledger.counts() == {"succeeded": 1}


def test_jobs_of_a_killed_worker_are_handed_out_again(config):
    queue = Queue(config)
    job_id = queue.enqueue("reconcile")
    queue.huey.flush()  # the dead worker had dequeued it: Huey no longer holds it
    # A real process claims the job and dies without finishing (as after kill -9).
    script = (
        "import sys; from pathlib import Path; from shared.ledger import JobLedger;"
        "ledger = JobLedger(Path(sys.argv[1])); token = ledger.register_worker();"
        "assert ledger.claim(sys.argv[2], token)"
    )
    subprocess.run([sys.executable, "-c", script, str(config.jobs_db), job_id], check=True)
    assert queue.ledger.get(job_id).state == "running"
    assert queue.recover() == [job_id]
    job = queue.ledger.get(job_id)
    assert job.state == "queued" and "worker stopped" in job.last_error
    assert job.delivered_to == queue.generation
    assert queue.held_job_ids() == {job_id}


def test_running_jobs_of_live_workers_are_left_alone(config):
    queue = Queue(config)
    job_id = queue.enqueue("reconcile")
    token = queue.ledger.register_worker()  # this process: alive and heartbeating
    queue.ledger.claim(job_id, token)
    assert queue.recover() == []
    assert queue.ledger.get(job_id).state == "running"


def test_a_queued_job_huey_lost_is_delivered_again(config):
    queue = Queue(config)
    job_id = queue.enqueue("reconcile")
    queue.huey.flush()
    assert queue.recover() == [], "within the grace period it may still be in flight"
    queue.ledger._conn().execute(
        "UPDATE jobs SET updated_at = ? WHERE id = ?", (time.time() - 3600, job_id)
    )
    assert queue.recover() == [job_id]
    assert queue.held_job_ids() == {job_id}


def test_retry_then_fail_keeps_the_error(config):
    queue = Queue(config)
    job_id = queue.enqueue("reconcile")
    token = queue.ledger.register_worker()
    queue.ledger.claim(job_id, token)
    queue.ledger.retry(job_id, "OSError: disk busy")
    assert queue.ledger.get(job_id).state == "queued"
    queue.ledger.claim(job_id, token)
    queue.ledger.fail(job_id, "OSError: disk gone")
    failed = queue.stats()
    assert failed["jobs_failed"] == 1
    assert failed["recent_failures"][0]["last_error"] == "OSError: disk gone"
    assert failed["recent_failures"][0]["attempts"] == 2


def test_backoff_doubles(config):
    config.queue.retry_base_seconds = 1.5
    assert [retry_delay(config, n) for n in (1, 2, 3)] == [1.5, 3.0, 6.0]


def test_cancel_stops_queued_and_running_jobs_and_prune_keeps_active_ones(config):
    queue = Queue(config)
    waiting, running, busy = (queue.enqueue("reconcile") for _ in range(3))
    token = queue.ledger.register_worker()
    queue.ledger.claim(running, token)
    queue.ledger.claim(busy, token)
    assert queue.ledger.cancel(waiting).state == "cancelled"
    stopped = queue.ledger.cancel(running)
    assert stopped.state == "cancelled" and stopped.last_error == "stopped while running"
    assert queue.ledger.claim(waiting, token) is None, "a cancelled job never starts"
    assert not queue.ledger.finish(running), "a stopped job's late result is not recorded"
    with pytest.raises(JobError, match="only queued or running"):
        queue.ledger.cancel(waiting)
    assert queue.ledger.prune(older_than_seconds=-1) == 2
    assert queue.ledger.get(busy).state == "running"
