import numpy as np
import pytest

from npnet import config


@pytest.fixture(autouse=True)
def _restore_floatx():
    saved = config.floatx()
    yield
    config.set_floatx(saved)


def test_default_is_float32():
    assert config.floatx() == "float32"
    assert config.resolve_dtype(None) == np.float32


def test_set_floatx_float64_changes_default():
    config.set_floatx("float64")
    assert config.resolve_dtype(None) == np.float64
    assert config.resolve_dtype("float32") == np.float32


@pytest.mark.parametrize("bad", ["float16", "int32", "double-ish"])
def test_unknown_floatx_is_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        config.set_floatx(bad)


def test_non_float_dtype_is_refused():
    with pytest.raises(ValueError, match="float32 or float64"):
        config.resolve_dtype(np.int64)


@pytest.fixture
def _restore_threads():
    yield
    config.set_num_threads(None)


@pytest.mark.usefixtures("_restore_threads")
def test_num_threads_comes_from_set_then_environment_then_the_machine(monkeypatch):
    monkeypatch.delenv("NPNET_NUM_THREADS", raising=False)
    monkeypatch.setattr(config.os, "cpu_count", lambda: 8)
    assert config.num_threads() == 2  # at most two: a step has two independent parts
    monkeypatch.setattr(config.os, "cpu_count", lambda: 1)
    assert config.num_threads() == 1
    monkeypatch.setenv("NPNET_NUM_THREADS", "3")
    assert config.num_threads() == 3
    config.set_num_threads(1)
    assert config.num_threads() == 1
    config.set_num_threads(None)
    assert config.num_threads() == 3


@pytest.mark.usefixtures("_restore_threads")
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="positive integer"):
        config.set_num_threads(bad)


def test_bad_thread_environment_variable_names_itself(monkeypatch):
    monkeypatch.setenv("NPNET_NUM_THREADS", "two")
    with pytest.raises(ValueError, match=r"NPNET_NUM_THREADS='two'.*unset it"):
        config.num_threads()
