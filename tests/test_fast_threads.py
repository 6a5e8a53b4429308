import pytest

from npnet.fast import blas_threads


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
