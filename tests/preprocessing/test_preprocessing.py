"""pad_sequences: Keras's rules, checked against a plain per-sequence reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet.preprocessing import pad_flat, pad_sequences


def reference_pad(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Keras's algorithm, one sequence at a time (the obviously-correct version)."""
    lengths = [len(s) for s in sequences]
    if maxlen is None:
        maxlen = max(lengths)
    sample_shape = next((np.asarray(s).shape[1:] for s in sequences if len(s)), ())
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out


def test_the_notebook_settings_keep_the_last_items_and_pad_at_the_end():
    x = pad_sequences([[1, 5, 6, 7], [1, 9], []], maxlen=3, padding="post")
    np.testing.assert_array_equal(x, [[5, 6, 7], [1, 9, 0], [0, 0, 0]])
    assert x.dtype == np.int32


def test_defaults_pad_and_cut_in_front():
    x = pad_sequences([[1, 2, 3], [4]], maxlen=2)
    np.testing.assert_array_equal(x, [[2, 3], [0, 4]])


def test_post_truncation_keeps_the_first_items():
    x = pad_sequences([[1, 2, 3], [4]], maxlen=2, truncating="post")
    np.testing.assert_array_equal(x, [[1, 2], [0, 4]])


def test_maxlen_none_means_the_longest_and_value_fills():
    x = pad_sequences([[1], [2, 3, 4]], value=-1)
    np.testing.assert_array_equal(x, [[-1, -1, 1], [2, 3, 4]])


def test_items_and_value_are_cast_to_dtype():
    x = pad_sequences([[1.7, -2.7]], maxlen=3, value=0.9)
    np.testing.assert_array_equal(x, [[0, 1, -2]])
    y = pad_sequences([[1.5]], maxlen=2, dtype="float32", value=0.25)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[0.25, 1.5]])


def test_reads_numpy_inputs_object_arrays_and_2d_arrays():
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = [1, 2, 3], [4]
    np.testing.assert_array_equal(pad_sequences(objects, maxlen=2), [[2, 3], [0, 4]])
    np.testing.assert_array_equal(pad_sequences(np.array([[1, 2, 3]]), maxlen=2), [[2, 3]])
    np.testing.assert_array_equal(pad_sequences([np.arange(3), np.arange(1)], maxlen=2), [[1, 2], [0, 0]])


def test_steps_may_be_vectors():
    sequences = [np.ones((2, 3)), [], np.full((4, 3), 2.0)]
    x = pad_sequences(sequences, maxlen=3, dtype="float32")
    assert x.shape == (3, 3, 3)
    np.testing.assert_array_equal(x, reference_pad(sequences, maxlen=3, dtype="float32"))


def test_strings_need_a_string_or_object_dtype():
    x = pad_sequences([["a", "bc"], ["d"]], dtype=object, value="<pad>")
    assert x.tolist() == [["a", "bc"], ["<pad>", "d"]]
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="x")


def test_empty_input_without_maxlen_raises_but_with_maxlen_gives_no_rows():
    with pytest.raises(ValueError, match="no sequences"):
        pad_sequences([])
    assert pad_sequences([], maxlen=4).shape == (0, 4)


@pytest.mark.parametrize("option", ["padding", "truncating"])
def test_unknown_padding_or_truncating_is_named(option):
    with pytest.raises(ValueError, match=f"{option} must be .*'middle'"):
        pad_sequences([[1]], **{option: "middle"})


def test_maxlen_zero_with_pre_truncation_raises_like_keras():
    with pytest.raises(ValueError, match="maxlen=0"):
        pad_sequences([[1, 2]], maxlen=0)
    # One item broadcasts into the empty row in Keras; post truncation keeps nothing.
    assert pad_sequences([[1], []], maxlen=0).shape == (2, 0)
    assert pad_sequences([[1, 2]], maxlen=0, truncating="post").shape == (1, 0)


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="non-iterable: 5"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="list of sequences"):
        pad_sequences(iter([[1]]))
    with pytest.raises(ValueError, match="maxlen must be >= 0"):
        pad_sequences([[1]], maxlen=-1)
    with pytest.raises(ValueError, match="shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


sequences_st = st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=12), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    sequences=sequences_st,
    maxlen=st.one_of(st.none(), st.integers(1, 15)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    dtype=st.sampled_from(["int32", "int64", "float64"]),
    value=st.sampled_from([0, -1, 7.5]),
)
@pytest.mark.slow
def test_matches_the_per_sequence_reference(sequences, maxlen, padding, truncating, dtype, value):
    expected = reference_pad(sequences, maxlen, dtype, padding, truncating, value)
    actual = pad_sequences(sequences, maxlen, dtype, padding, truncating, value)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


@settings(max_examples=100, deadline=None)
@given(
    sequences=st.lists(st.lists(st.floats(-1e6, 1e6), max_size=6), min_size=1, max_size=6),
    maxlen=st.integers(1, 8),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
@pytest.mark.slow
def test_float_items_cast_to_int32_as_keras_casts_them(sequences, maxlen, padding, truncating):
    expected = reference_pad(sequences, maxlen, "int32", padding, truncating)
    np.testing.assert_array_equal(pad_sequences(sequences, maxlen, "int32", padding, truncating), expected)


@settings(max_examples=200, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=12), min_size=1, max_size=8),
    maxlen=st.integers(1, 15),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    value=st.sampled_from([0, -1]),
)
@pytest.mark.slow
def test_pad_flat_equals_pad_sequences(sequences, maxlen, padding, truncating, value):
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    values = np.array([v for s in sequences for v in s], dtype=np.int64)
    expected = reference_pad(sequences, maxlen, "int32", padding, truncating, value)
    actual = pad_flat(values, lengths, maxlen, "int32", padding, truncating, value)
    assert actual.dtype == np.int32
    np.testing.assert_array_equal(actual, expected)


def test_pad_flat_checks_its_arrays():
    with pytest.raises(ValueError, match="lengths add up to 3"):
        pad_flat(np.arange(4), np.array([1, 2]), 5)
    with pytest.raises(ValueError, match="non-negative"):
        pad_flat(np.arange(4), np.array([5, -1]), 5)
    with pytest.raises(ValueError, match="padding"):
        pad_flat(np.arange(3), np.array([1, 2]), 5, padding="middle")
