"""Keras parity tests: npnet against Keras 3 on the torch backend (CPU), Keras imported once per session.

Without Keras (the `parity` extra) each module that needs it skips itself (`pytest.importorskip`), except in
CI (`CI` set), where the tests must run: a missing Keras there is an error at collection, not a silent pass.
"""

from __future__ import annotations

import os
from pathlib import Path

# Keras fixes its backend at first import; the reference figures and semantics are for torch. A backend
# named in the environment wins (KERAS_BACKEND=jax runs the recurrent parity tests on JAX; parity.keras_side,
# made for torch, refuses any other backend).
os.environ.setdefault("KERAS_BACKEND", "torch")

import pytest

if os.environ.get("CI"):
    try:
        import keras  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"CI is set, so the Keras parity tests must run, but Keras cannot be imported ({error}); "
            "install the parity extra: pip install torch==2.13.0 -e '.[parity]'"
        ) from error

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Keras 3.15's variables call np.array(self) without `copy=`, which NumPy 2 warns about on every
    # get_weights(); it is Keras's, not ours, and would bury real warnings under hundreds of copies.
    quiet = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(quiet)


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory: pytest.TempPathFactory):
    """A small random imdb.npz, readable by both loaders."""
    from parity import checks

    return checks.write_synthetic_npz(tmp_path_factory.mktemp("parity") / "imdb.npz")


@pytest.fixture(scope="session")
def padded_imdb(imdb_npz):
    """The real reviews as the notebook feeds them: num_words=10000, padded to 256 at the end."""
    from parity import checks

    return checks.padded_imdb(imdb_npz)


@pytest.fixture(scope="session")
def imdb_npz(imdb_data_dir):
    """The imdb.npz built once per session from the Stanford reviews (tests/conftest.py)."""
    return imdb_data_dir / "imdb.npz"
