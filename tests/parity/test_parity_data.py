"""load_data and pad_sequences: npnet's output is Keras's, element for element."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet.datasets import imdb

pytest.importorskip("keras", reason="the Keras parity tests need the parity extra (keras, jax)")

from parity import checks
from parity import keras_side as ks

pytestmark = pytest.mark.parity


def _assert_rows(rows):
    failed = [str(row) for row in rows if not row.ok]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("kwargs", checks.SYNTHETIC_LOAD_DATA_GRID, ids=checks.kwargs_text)
def test_load_data_matches_keras_on_synthetic_file(synthetic_npz, kwargs):
    _assert_rows(checks.load_data_rows(synthetic_npz, kwargs, "synthetic"))


@pytest.mark.slow
@pytest.mark.parametrize("kwargs", checks.REAL_LOAD_DATA_GRID, ids=checks.kwargs_text)
def test_load_data_matches_keras_on_real_file(imdb_npz, kwargs):
    _assert_rows(checks.load_data_rows(imdb_npz, kwargs, "real IMDB"))


def test_load_data_check_notices_a_different_shuffle(synthetic_npz):
    # The comparison must be able to fail: Keras's seed 113 against npnet's seed 114.
    ours = imdb.load_data(path=synthetic_npz, seed=114)
    theirs = ks.load_data(synthetic_npz, seed=113)
    row = checks.sequences_row("shuffle", "x_train", ours[0][0], theirs[0][0])
    assert not row.ok


def test_load_data_equal_lengths_same_content_but_npnet_stays_one_dimensional(tmp_path):
    # Keras's `np.array(list_of_lists, dtype=object)` turns equal-length reviews into a 2-D object array (the
    # trap in the reference); npnet keeps a 1-D array of lists. The content is the same.
    path = tmp_path / "imdb.npz"
    x = np.empty(4, dtype=object)
    x[:] = [[5, 6, 7], [8, 9, 10], [11, 12, 13], [14, 15, 16]]
    np.savez(path, x_train=x, y_train=np.array([0, 1, 0, 1]), x_test=x, y_test=np.array([1, 0, 1, 0]))
    (ours, _), _ = imdb.load_data(path=path)
    (theirs, _), _ = ks.load_data(path)
    assert theirs.ndim == 2
    assert ours.ndim == 1
    _assert_rows([checks.sequences_row("equal lengths", "x_train", ours, theirs)])


def test_pad_sequences_matches_keras_for_every_option_combination():
    cases = list(checks.pad_sequences_cases(seed=0))
    assert len(cases) == np.prod([len(v) for v in checks.PAD_OPTIONS.values()])
    _assert_rows([checks.pad_sequences_row(sequences, kwargs) for sequences, kwargs in cases])


_ints = st.lists(st.integers(-1000, 1000), max_size=12)
_floats = st.lists(st.floats(-1000, 1000, allow_nan=False, width=32), max_size=12)


@st.composite
def _sequences(draw):
    """Ragged batches as callers pass them: lists of lists, lists of arrays, load_data's object arrays."""
    sequences = draw(st.lists(draw(st.sampled_from([_ints, _floats])), max_size=8))
    form = draw(st.sampled_from(["lists", "arrays", "object array"]))
    if form == "arrays":
        return [np.asarray(s) for s in sequences]
    if form == "object array":
        out = np.empty(len(sequences), dtype=object)
        out[:] = sequences
        return out
    return sequences


def _option(name):
    return st.sampled_from(checks.PAD_OPTIONS[name]) | (
        st.integers(0, 15) if name == "maxlen" else st.nothing()
    )


@settings(max_examples=300, deadline=None)
@given(
    sequences=_sequences(),
    options=st.fixed_dictionaries({name: _option(name) for name in checks.PAD_OPTIONS}),
)
def test_pad_sequences_matches_keras_on_generated_input(sequences, options):
    _assert_rows([checks.pad_sequences_row(sequences, checks.call_kwargs(options))])


def test_pad_sequences_default_truncation_keeps_the_end_as_keras():
    # The notebook's call: padding='post' but truncating left at its default ('pre').
    sequences = [list(range(1, 11)), [4, 5]]
    row = checks.pad_sequences_row(sequences, {"maxlen": 4, "padding": "post"})
    assert row.ok, str(row)
