import threading

import pytest

from npnet.fast import Workers, blas_threads


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
