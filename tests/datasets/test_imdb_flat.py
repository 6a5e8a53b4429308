"""The compact IMDB path for training: the flat cache, load_ragged and load_padded against load_data."""

from __future__ import annotations

import numpy as np
import pytest

from npnet.datasets import imdb
from npnet.preprocessing import pad_sequences
from tests.datasets.test_imdb_load import save_imdb


def sample(seed=0, n=(40, 30)):
    rng = np.random.default_rng(seed)

    def reviews(count):
        return [rng.integers(1, 60, rng.integers(1, 25)).tolist() for _ in range(count)]

    return reviews(n[0]), [i % 2 for i in range(n[0])], reviews(n[1]), [(i // 3) % 2 for i in range(n[1])]


@pytest.fixture
def npz(tmp_path):
    return save_imdb(tmp_path / "imdb.npz", *sample())


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"num_words": 20, "skip_top": 3},
        {"num_words": 30, "oov_char": None, "start_char": None, "index_from": 0, "seed": 7},
    ],
)
def test_load_ragged_is_load_data_as_flat_arrays(npz, args):
    expected = imdb.load_data(npz, **args)
    actual = imdb.load_ragged(npz, **args)
    for (x, y), (ragged, labels) in zip(expected, actual, strict=True):
        assert ragged.to_lists() == list(x)
        np.testing.assert_array_equal(labels, y)
        assert labels.dtype == y.dtype


@pytest.mark.parametrize("padding,truncating", [("post", "pre"), ("pre", "pre"), ("post", "post")])
@pytest.mark.parametrize("args", [{"num_words": 25}, {"skip_top": 2, "oov_char": None, "seed": 3}])
def test_load_padded_equals_pad_sequences_of_load_data(npz, padding, truncating, args):
    expected = imdb.load_data(npz, **args)
    actual = imdb.load_padded(12, npz, padding=padding, truncating=truncating, **args)
    for (x, y), (padded, labels) in zip(expected, actual, strict=True):
        want = pad_sequences(x, maxlen=12, padding=padding, truncating=truncating)
        assert padded.dtype == want.dtype == np.int32
        np.testing.assert_array_equal(padded, want)
        np.testing.assert_array_equal(labels, y)


def test_cache_is_written_once_plain_and_keyed_by_the_npz(npz):
    cache = imdb.flat_cache_path(npz)
    assert cache.name == "imdb.flat.npz" and not cache.exists()
    first = imdb.load_padded(10, npz)
    assert cache.exists()
    with np.load(cache, allow_pickle=False) as f:  # no pickle inside
        assert f["x_train_values"].dtype == np.int32
        assert str(f["source_sha256"]) == imdb.file_digests(npz)["sha256"]
    stamp = cache.stat().st_mtime_ns
    again = imdb.load_padded(10, npz)
    assert cache.stat().st_mtime_ns == stamp  # read, not rewritten
    np.testing.assert_array_equal(first[0][0], again[0][0])

    save_imdb(npz, *sample(seed=1))  # a changed npz: the cache must not be used
    changed = imdb.load_padded(10, npz)
    np.testing.assert_array_equal(changed[0][0], pad_sequences(imdb.load_data(npz)[0][0], maxlen=10))
    assert not np.array_equal(changed[0][0], first[0][0])


def test_a_damaged_or_inconsistent_cache_is_rebuilt(npz):
    expected = imdb.load_padded(10, npz)
    cache = imdb.flat_cache_path(npz)
    cache.write_bytes(b"not a zip")
    np.testing.assert_array_equal(imdb.load_padded(10, npz)[0][0], expected[0][0])
    with np.load(cache, allow_pickle=False) as f:
        arrays = dict(f)
    arrays["x_train_lengths"] = arrays["x_train_lengths"] + 1  # no longer adds up to the values
    np.savez(cache, **arrays)
    np.testing.assert_array_equal(imdb.load_padded(10, npz)[0][0], expected[0][0])
    with np.load(cache, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["x_train_lengths"], arrays["x_train_lengths"] - 1)


def test_a_cache_that_cannot_be_written_is_skipped(npz):
    imdb.flat_cache_path(npz).mkdir()  # neither readable as a file nor replaceable (as a read-only folder)
    padded = imdb.load_padded(10, npz)
    assert imdb.flat_cache_path(npz).is_dir()
    np.testing.assert_array_equal(padded[0][0], pad_sequences(imdb.load_data(npz)[0][0], maxlen=10))


def test_missing_npz(tmp_path):
    with pytest.raises(imdb.DataError, match="no such file"):
        imdb.load_padded(10, tmp_path / "nothing.npz")
