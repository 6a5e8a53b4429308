"""The one synthetic IMDB-like generator (tests, benchmarks and `npnet gradcheck` use it) looks like padded
Keras IMDB reviews."""

import numpy as np
import pytest

from npnet.datasets import imdb
from npnet.datasets.synthetic import imdb_like_ids


def test_ids_look_like_padded_reviews():
    x = imdb_like_ids(64, 40, 1000, np.random.default_rng(0), median_length=40)
    assert x.shape == (64, 40) and x.dtype == np.int32
    assert x.min() >= 0 and x.max() < 1000
    padded = (x == imdb.PAD_CHAR).any(axis=1)
    assert padded.any() and (~padded).any()  # short reviews are padded, long ones fill the row
    assert np.all(x[padded, 0] == imdb.START_CHAR)  # short reviews keep their start marker ...
    assert np.all(np.diff((x == imdb.PAD_CHAR).astype(int), axis=1) >= 0)  # ... and are padded at the end
    assert (x == imdb.OOV_CHAR).any() and not (x == imdb.INDEX_FROM).any()  # OOV ids; id 3 never occurs
    counts = np.bincount(x[x > imdb.INDEX_FROM])
    assert counts.max() >= 10 and (counts == 1).any() and (counts == 0).sum() > 500  # Zipf: head and tail


def test_default_lengths_are_imdbs():
    x = imdb_like_ids(2000, 2500, 10_000, np.random.default_rng(1))
    lengths = (x != imdb.PAD_CHAR).sum(axis=1)
    assert 160 <= np.median(lengths) <= 195 and 210 <= lengths.mean() <= 265  # IMDB: median ~178, mean ~238
    assert 0.03 <= np.mean(x[x != imdb.PAD_CHAR] == imdb.OOV_CHAR) <= 0.07


def test_the_same_seed_gives_the_same_ids():
    a, b = (imdb_like_ids(8, 30, 500, np.random.default_rng(4)) for _ in range(2))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("args", "message"),
    [((0, 10, 100), "n must be a positive integer"), ((4, 10, 4), "vocab_size must exceed 4")],
)
def test_bad_sizes_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        imdb_like_ids(*args, np.random.default_rng(0))
