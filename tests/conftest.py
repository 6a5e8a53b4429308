"""Shared fixtures: floatx restored after every test; `imdb_data_dir`, the real IMDB data built once per
session from the Stanford reviews. (Central differences: `npnet.gradcheck.central_difference`.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from npnet import config
from npnet.datasets.build import build_imdb

# ../shared/data/ beside the repository root (see the project brief); NPNET_IMDB_TARBALL overrides it.
SHARED_TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"


@pytest.fixture(scope="session")
def imdb_tarball() -> Path:
    """The Stanford reviews tarball; skipped when absent locally, a failure when absent in CI."""
    path = Path(os.environ.get("NPNET_IMDB_TARBALL", SHARED_TARBALL))
    if not path.is_file():
        message = f"the Stanford reviews are not at {path} (set NPNET_IMDB_TARBALL to their tarball)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def imdb_data_dir(imdb_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding imdb.npz, imdb_word_index.json and imdb_provenance.json built from
    `imdb_tarball` (about 10 s, once per session). Use as `imdb.load_data(imdb_data_dir / "imdb.npz")`."""
    directory = tmp_path_factory.mktemp("imdb_data")
    build_imdb(imdb_tarball, directory)
    return directory


@pytest.fixture(autouse=True)
def _private_data_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real per-user data cache (~/.cache/npnet/datasets) or follows the
    caller's NPNET_DATA_DIR / NPNET_DATA_URL / NPNET_IMDB_TARBALL: the default cache is an empty folder
    of this test's own. Returns that folder."""
    cache_home = tmp_path_factory.mktemp("xdg_cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    for name in ("NPNET_DATA_DIR", "NPNET_DATA_URL", "NPNET_IMDB_TARBALL"):
        monkeypatch.delenv(name, raising=False)
    return cache_home / "npnet" / "datasets"


@pytest.fixture(autouse=True)
def _restore_floatx():
    """Tests may switch the global floatx; always put it back."""
    saved = config.floatx()
    yield
    config.set_floatx(saved)
