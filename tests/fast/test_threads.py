import threading

import pytest

from npnet import config
from npnet.fast import threads
from npnet.fast.threads import SERIAL, Workers, blas_threads, shared_workers


def test_limit_none_changes_nothing():
    with blas_threads(None) as limiter:
        assert limiter is None


def test_limits_blas_to_one_thread_inside_the_block_when_threadpoolctl_is_installed():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads_now():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads_now()
    if not before:
        pytest.skip("NumPy reports no BLAS thread pool here")
    with blas_threads(1):
        assert blas_threads_now() == [1] * len(before)
    assert blas_threads_now() == before


def test_one_worker_runs_each_part_at_once_on_the_calling_thread():
    calls = []
    with Workers(1) as workers:
        wait = workers.start(lambda a, b: calls.append(threading.current_thread()) or a + b, 2, 3)
        assert calls == [threading.current_thread()]  # already done before the wait
        assert wait() == 5


def test_two_workers_run_a_part_on_another_thread_and_pass_its_errors_on():
    started, release = threading.Event(), threading.Event()

    def part():
        started.set()
        release.wait(timeout=10)
        return threading.current_thread()

    with Workers(2) as workers:
        wait = workers.start(part)
        assert started.wait(timeout=10)  # running while this thread goes on
        release.set()
        assert wait() is not threading.current_thread()
        with pytest.raises(ZeroDivisionError):
            workers.start(lambda: 1 / 0)()


@pytest.mark.parametrize("bad", [0, -2, 1.0, True])
def test_thread_count_is_checked(bad):
    with pytest.raises(ValueError, match="positive integer"):
        Workers(bad)


@pytest.mark.parametrize(
    ("count", "n", "parts"),
    [
        (1, 7, [(0, 7)]),
        (2, 7, [(0, 3), (3, 7)]),
        (2, 1, [(0, 1)]),
        (3, 10, [(0, 3), (3, 6), (6, 10)]),
        (2, 0, []),
    ],
)
def test_split_cuts_the_range_into_one_contiguous_part_per_thread(count, n, parts):
    seen, lock = [], threading.Lock()

    def part(s):
        with lock:
            seen.append((s.start, s.stop))

    with Workers(count) as workers:
        workers.split(part, n)
    assert sorted(seen) == parts


def test_split_waits_for_every_part_even_when_its_own_part_fails():
    done = threading.Event()

    def part(s):
        if s.start == 0:
            raise ZeroDivisionError
        done.wait(timeout=0.2)
        done.set()

    with Workers(2) as workers, pytest.raises(ZeroDivisionError):
        workers.split(part, 2)
    assert done.is_set()  # the other half had finished before the error came out


def test_a_part_started_from_a_pool_thread_runs_there_instead_of_deadlocking():
    with Workers(2) as workers:

        def outer():
            inner = workers.start(threading.get_ident)  # the only pool thread is this one, busy
            return threading.get_ident(), inner()

        outer_thread, inner_thread = workers.start(outer)()
        assert inner_thread == outer_thread != threading.get_ident()


def test_shared_workers_are_kept_per_thread_count_and_process(monkeypatch):
    monkeypatch.setattr(config, "_NUM_THREADS", 1)
    assert shared_workers() is SERIAL  # a sweep worker: no thread at all
    monkeypatch.setattr(config, "_NUM_THREADS", 4)
    pair = shared_workers()
    assert pair.threads == 2 and shared_workers() is pair  # at most two, and kept
    monkeypatch.setattr(threads.os, "getpid", lambda: -1)  # a forked child: the parent's pool has no threads
    child = shared_workers()
    assert child is not pair and child.threads == 2
    background = shared_workers("background")
    assert background is not child and shared_workers("background") is background
    threads._SHARED.pop((-1, "parts", 2)).close()
    threads._SHARED.pop((-1, "background", 2)).close()
