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
