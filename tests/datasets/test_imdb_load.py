"""imdb.load_data: Keras's rules on small hand-made npz files, and against Keras's algorithm written out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npnet.datasets import imdb
from npnet.errors import DataError


def object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, item in enumerate(lists):
        out[i] = item
    return out


def save_imdb(path, x_train, y_train, x_test, y_test):
    """An imdb.npz as Keras's is made: np.savez of object arrays of lists and int64 labels."""
    np.savez(
        path,
        x_train=object_array(x_train),
        y_train=np.asarray(y_train, dtype=np.int64),
        x_test=object_array(x_test),
        y_test=np.asarray(y_test, dtype=np.int64),
    )
    return path


def keras_load_data(
    path, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3
):
    """keras.datasets.imdb.load_data (Keras 3), transcribed; lists out, so a comparison sees every element."""
    with np.load(path, allow_pickle=True) as f:  # a file this test wrote itself
        x_train, labels_train = f["x_train"], f["y_train"]
        x_test, labels_test = f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    elif index_from:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    else:
        x_train = [list(x) for x in x_train]
        x_test = [list(x) for x in x_test]
    if maxlen:
        keep_train = [len(x) < maxlen for x in x_train]
        keep_test = [len(x) < maxlen for x in x_test]
        x_train = [x for x, k in zip(x_train, keep_train, strict=True) if k]
        labels_train = labels_train[np.array(keep_train, dtype=bool)]
        x_test = [x for x, k in zip(x_test, keep_test, strict=True) if k]
        labels_test = labels_test[np.array(keep_test, dtype=bool)]
        if not x_train or not x_test:
            raise ValueError("no sequence was kept")
    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    idx = len(x_train)
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


def as_lists(x):
    assert isinstance(x, np.ndarray) and x.dtype == object and x.ndim == 1
    assert all(type(seq) is list for seq in x)
    assert all(type(w) is int for seq in x for w in seq)
    return list(x)


@pytest.fixture
def small(tmp_path):
    """Four train and three test reviews with known ranks (1 = most frequent) and labels."""
    x_train = [[1, 2, 3], [4, 1], [5, 6, 7, 1], [2]]
    x_test = [[7, 7], [3, 1, 2, 4, 5], [6]]
    return save_imdb(tmp_path / "imdb.npz", x_train, [1, 0, 1, 0], x_test, [0, 1, 1]), x_train, x_test


def permutations(seed, n_train, n_test):
    rng = np.random.RandomState(seed)
    train, test = np.arange(n_train), np.arange(n_test)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def test_shuffles_train_then_test_with_one_continuing_generator(small):
    path, x_train, x_test = small
    (xt, yt), (xs, ys) = imdb.load_data(path, start_char=None, index_from=0, num_words=100)
    train_order, test_order = permutations(113, 4, 3)
    assert as_lists(xt) == [x_train[i] for i in train_order]
    assert as_lists(xs) == [x_test[i] for i in test_order]
    np.testing.assert_array_equal(yt, np.array([1, 0, 1, 0])[train_order])
    np.testing.assert_array_equal(ys, np.array([0, 1, 1])[test_order])
    assert yt.dtype == np.int64


@pytest.mark.slow
def test_seed_113_on_25000_reviews_starts_with_keras_permutation(tmp_path):
    # Review i holds the single rank i + 1, so the output names the permutation.
    reviews = [[i + 1] for i in range(25000)]
    path = save_imdb(tmp_path / "imdb.npz", reviews, [0, 1] * 12500, [[1], [2]], [0, 1])
    (xt, _), (xs, _) = imdb.load_data(path, start_char=None, index_from=0, num_words=10**6)
    assert [seq[0] - 1 for seq in xt[:5]] == [7798, 13226, 18078, 793, 17499]
    # The test split continues the same generator rather than restarting it.
    _, test_order = permutations(113, 25000, 2)
    assert [seq[0] - 1 for seq in xs] == test_order.tolist()


def test_defaults_add_start_and_shift_by_index_from_and_the_largest_id_becomes_oov(small):
    path, x_train, _ = small
    (xt, _), _ = imdb.load_data(path, seed=0)
    train_order, _ = permutations(0, 4, 3)
    largest = 7 + 3  # rank 7 is the largest; num_words=None makes it the limit, so it fails `w < num_words`
    expected = [[1] + [(w + 3 if w + 3 < largest else 2) for w in x_train[i]] for i in train_order]
    assert as_lists(xt) == expected


def test_index_from_and_no_start_char(small):
    path, x_train, _ = small
    (xt, _), _ = imdb.load_data(path, seed=1, start_char=None, index_from=10, num_words=1000)
    train_order, _ = permutations(1, 4, 3)
    assert as_lists(xt) == [[w + 10 for w in x_train[i]] for i in train_order]


def test_num_words_and_skip_top_replace_ids_outside_the_range_with_oov_including_start(small):
    path, x_train, _ = small
    (xt, _), _ = imdb.load_data(path, seed=2, num_words=7, skip_top=5, oov_char=9)
    train_order, _ = permutations(2, 4, 3)
    # ids are rank + 3; keep 5 <= id < 7, i.e. ranks 2 and 3; the start char 1 < 5 becomes oov too.
    expected = [[9] + [(w + 3 if 5 <= w + 3 < 7 else 9) for w in x_train[i]] for i in train_order]
    assert as_lists(xt) == expected


def test_oov_none_drops_ids_outside_the_range(small):
    path, x_train, _ = small
    (xt, _), _ = imdb.load_data(path, seed=3, num_words=6, oov_char=None)
    train_order, _ = permutations(3, 4, 3)
    expected = [[1] + [w + 3 for w in x_train[i] if w + 3 < 6] for i in train_order]
    assert as_lists(xt) == expected


def test_maxlen_is_strict_counts_the_start_char_and_filters_each_split(small):
    path, _, _ = small
    (xt, yt), (xs, ys) = imdb.load_data(path, maxlen=3, num_words=100)
    # With the start char, lengths are train 4, 3, 5, 2 and test 3, 6, 2: only length < 3 survives.
    assert as_lists(xt) == [[1, 2 + 3]]
    np.testing.assert_array_equal(yt, [0])
    assert as_lists(xs) == [[1, 6 + 3]]
    np.testing.assert_array_equal(ys, [1])


def test_maxlen_that_keeps_nothing_raises(small):
    path, _, _ = small
    with pytest.raises(ValueError, match="no sequence was kept"):
        imdb.load_data(path, maxlen=2)


def test_maxlen_zero_means_no_filter(small):
    path, _, _ = small
    (xt, _), _ = imdb.load_data(path, maxlen=0)
    assert len(xt) == 4


def test_equal_length_reviews_still_give_a_1d_array_of_lists(tmp_path):
    path = save_imdb(tmp_path / "imdb.npz", [[1, 2], [3, 4], [5, 6]], [0, 1, 0], [[1, 1], [2, 2]], [1, 0])
    (xt, _), (xs, _) = imdb.load_data(path)
    assert xt.shape == (3,) and xs.shape == (2,)
    assert all(len(seq) == 3 for seq in as_lists(xt))


def test_arguments_must_be_ints(small):
    path, _, _ = small
    with pytest.raises(TypeError, match="num_words must be an int"):
        imdb.load_data(path, num_words=1.5)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        imdb.load_data(tmp_path / "nothing.npz")


datasets = st.tuples(
    st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=8), min_size=1, max_size=8),
    st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=8), min_size=1, max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=datasets,
    num_words=st.sampled_from([None, 0, 5, 12, 30, 100]),
    skip_top=st.sampled_from([0, 1, 2, 4, 8]),
    maxlen=st.sampled_from([None, 0, 3, 5, 9]),
    seed=st.integers(0, 2**31 - 1),
    start_char=st.sampled_from([None, 1, 5]),
    oov_char=st.sampled_from([None, 2, 0]),
    index_from=st.sampled_from([0, 1, 3, 7]),
)
@pytest.mark.slow
def test_matches_keras_algorithm(
    tmp_path, data, num_words, skip_top, maxlen, seed, start_char, oov_char, index_from
):
    x_train, x_test = data
    labels_train = [i % 2 for i in range(len(x_train))]
    labels_test = [(i + 1) % 2 for i in range(len(x_test))]
    path = save_imdb(tmp_path / "imdb.npz", x_train, labels_train, x_test, labels_test)
    args = dict(
        num_words=num_words,
        skip_top=skip_top,
        maxlen=maxlen,
        seed=seed,
        start_char=start_char,
        oov_char=oov_char,
        index_from=index_from,
    )
    try:
        expected = keras_load_data(path, **args)
    except ValueError:
        with pytest.raises(ValueError):
            imdb.load_data(path, **args)
        return
    (xt, yt), (xs, ys) = imdb.load_data(path, **args)
    assert as_lists(xt) == expected[0][0]
    assert as_lists(xs) == expected[1][0]
    np.testing.assert_array_equal(yt, expected[0][1])
    np.testing.assert_array_equal(ys, expected[1][1])
    assert yt.dtype == expected[0][1].dtype


@pytest.mark.parametrize("text", [None, 3, b"great film", ["great"]])
def test_encode_takes_text_only(text):
    with pytest.raises(DataError, match="encode takes a review's text as a str"):
        imdb.encode(text, {"great": 1})


@pytest.mark.parametrize("ids", [[1.0, 4.7], np.array([3.5]), [float("nan")]])
def test_decode_refuses_ids_that_are_not_integers(ids):
    """astype(int64) would turn 4.7 into 4 and print a word the ids never named."""
    with pytest.raises(DataError, match="decode takes integer ids"):
        imdb.decode(ids, {"great": 1, "film": 2})
    assert imdb.decode(np.array([1, 4, 5]), {"great": 1, "film": 2}) == "<START> great film"
