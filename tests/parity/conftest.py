"""Keras parity tests: npnet against Keras 3 on the torch backend (CPU), Keras imported once per session.

Without Keras (the `parity` extra) these tests are skipped, except in CI (`CI` set), where they must run: a
missing Keras there is an error, not a silent pass.
"""

from __future__ import annotations

import os

# Keras fixes its backend at first import; the reference figures and semantics are for torch.
os.environ["KERAS_BACKEND"] = "torch"

import pytest

_INSTALL = "pip install torch==2.13.0 -e '.[parity]'"

try:
    import keras  # noqa: F401
except ImportError as error:
    if os.environ.get("CI"):
        raise ImportError(
            f"CI is set, so the Keras parity tests must run, but Keras cannot be imported ({error}); "
            f"install the parity extra: {_INSTALL}"
        ) from error
    pytest.skip(f"Keras parity tests need Keras with torch ({error}); {_INSTALL}", allow_module_level=True)

from benchmarks.parity import checks  # noqa: E402  (imports Keras: after the backend is chosen)


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory: pytest.TempPathFactory):
    """A small random imdb.npz, readable by both loaders."""
    return checks.write_synthetic_npz(tmp_path_factory.mktemp("parity") / "imdb.npz")


@pytest.fixture(scope="session")
def padded_imdb(imdb_npz):
    """The real reviews as the notebook feeds them: num_words=10000, padded to 256 at the end."""
    return checks.padded_imdb(imdb_npz)
