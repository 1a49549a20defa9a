"""The API's memory-DB threads: results and errors come back to the awaiting request, two jobs
run at once, and a job whose request went away is not run."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.api.db_threads import DbThreads, ThreadsStopped


@pytest.fixture
def threads():
    pool = DbThreads(2, name="test-db")
    yield pool
    pool.stop()


def test_results_and_errors_reach_the_caller(threads):
    async def main():
        assert await threads.run(lambda: 6 * 7) == 42
        with pytest.raises(ZeroDivisionError):
            await threads.run(lambda: 1 / 0)
        return await threads.run(lambda: threading.current_thread().name)

    assert asyncio.run(main()).startswith("test-db_")


def test_two_jobs_run_at_once(threads):
    both_started = threading.Barrier(2, timeout=5)

    async def main():
        return await asyncio.gather(*(threads.run(both_started.wait) for _ in range(2)))

    assert sorted(asyncio.run(main())) == [0, 1]  # neither waited for the other to finish


def test_a_job_whose_request_was_cancelled_is_not_run(threads):
    release, ran = threading.Event(), []

    async def main():
        busy = [asyncio.ensure_future(threads.run(release.wait)) for _ in range(2)]
        queued = asyncio.ensure_future(threads.run(lambda: ran.append("ran")))
        await asyncio.sleep(0.05)
        queued.cancel()  # the client disconnected while both threads were busy
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*busy)
        await asyncio.sleep(0.1)

    asyncio.run(main())
    assert ran == []


def test_after_stop_new_work_fails_at_once():
    pool, ran = DbThreads(1, name="test-db"), []
    pool.stop()

    async def main():
        with pytest.raises(ThreadsStopped):
            await asyncio.wait_for(pool.run(lambda: ran.append("ran")), timeout=5)

    asyncio.run(main())
    assert ran == []


def test_work_queued_when_stopping_fails_instead_of_hanging():
    pool, release, ran = DbThreads(1, name="test-db"), threading.Event(), []

    async def main():
        busy = asyncio.ensure_future(pool.run(release.wait))
        queued = asyncio.ensure_future(pool.run(lambda: ran.append("ran")))
        await asyncio.sleep(0.05)
        pool.stop()
        release.set()
        assert await asyncio.wait_for(busy, timeout=5) is True  # the job in hand finishes
        with pytest.raises(ThreadsStopped):
            await asyncio.wait_for(queued, timeout=5)

    asyncio.run(main())
    assert ran == []
