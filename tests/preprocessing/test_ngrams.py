"""N-gram features (npnet.ngrams, preprocessing.add_ngrams) against a plain-Python reference of Keras's
examples/imdb_fasttext.py (create_ngram_set / add_ngram), including that example's docstring cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet.datasets.ragged import Ragged
from npnet.preprocessing import add_ngrams
from npnet.preprocessing.ngrams import NgramTable, window_codes


def reference_ngram_set(sequences, ngram_range):
    """Every n-gram (2..ngram_range) of the sequences, one window at a time (Keras's create_ngram_set)."""
    grams = set()
    for seq in sequences:
        for n in range(2, ngram_range + 1):
            grams |= {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}
    return grams


def reference_add_ngrams(sequences, token_indice, ngram_range):
    """Keras's add_ngram, loop by loop: each window of the list as it grows (bigram ids appended first)."""
    out = []
    for seq in sequences:
        new = list(seq)
        for n in range(2, ngram_range + 1):
            for i in range(len(new) - n + 1):
                gram = tuple(new[i : i + n])
                if gram in token_indice:
                    new.append(token_indice[gram])
        out.append(new)
    return out


def reference_ids(grams, first_id):
    """The documented id order: by order, then by the n-gram's words (== ascending code)."""
    ordered = sorted(grams, key=lambda g: (len(g), g))
    return {g: first_id + i for i, g in enumerate(ordered)}


# Keras's docstring cases (imdb_fasttext.py, add_ngram).
KERAS_SEQUENCES = [[1, 3, 4, 5], [1, 3, 7, 9, 2]]


def test_the_keras_examples_bigram_docstring_case():
    token_indice = {(1, 3): 1337, (9, 2): 42, (4, 5): 2017}
    got = add_ngrams(KERAS_SEQUENCES, token_indice, ngram_range=2)
    assert got == [[1, 3, 4, 5, 1337, 2017], [1, 3, 7, 9, 2, 1337, 42]]


def test_the_keras_examples_trigram_docstring_case():
    token_indice = {(1, 3): 1337, (9, 2): 42, (4, 5): 2017, (7, 9, 2): 2018}
    got = add_ngrams(KERAS_SEQUENCES, token_indice, ngram_range=3)
    assert got == [[1, 3, 4, 5, 1337, 2017], [1, 3, 7, 9, 2, 1337, 42, 2018]]


def test_a_trigram_in_the_table_is_ignored_at_ngram_range_2():
    token_indice = {(1, 3): 1337, (7, 9, 2): 2018}
    got = add_ngrams(KERAS_SEQUENCES, token_indice, ngram_range=2)
    assert got == [[1, 3, 4, 5, 1337], [1, 3, 7, 9, 2, 1337]]


def test_the_keras_create_ngram_set_case():
    seqs = Ragged.from_lists([[1, 4, 9, 4, 1, 4]])
    bigrams = NgramTable.build(seqs, 2, base=10)
    assert sorted(divmod(int(c), 10) for c in bigrams.codes[0]) == sorted({(4, 9), (4, 1), (1, 4), (9, 4)})
    trigrams = window_codes(seqs, 3, 10)[0]
    assert [int(c) for c in trigrams] == [149, 494, 941, 414]  # (1,4,9), (4,9,4), (9,4,1), (4,1,4)


sequences_strategy = st.lists(st.lists(st.integers(0, 11), max_size=12), min_size=1, max_size=8)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(train=sequences_strategy, new=sequences_strategy, ngram_range=st.sampled_from([2, 3]))
def test_build_and_add_equal_the_plain_python_reference(train, new, ngram_range):
    table = NgramTable.build(Ragged.from_lists(train), ngram_range, base=12)
    token_indice = reference_ids(reference_ngram_set(train, ngram_range), first_id=13)
    assert len(table) == len(token_indice)
    assert table.input_dim == 13 + len(token_indice) if token_indice else table.input_dim == 12
    for seqs in (train, new):  # the training reviews, and reviews with n-grams the table lacks
        expected = reference_add_ngrams(seqs, token_indice, ngram_range)
        assert add_ngrams(seqs, table, ngram_range) == expected
        flat = add_ngrams(Ragged.from_lists(seqs), table, ngram_range)
        assert isinstance(flat, Ragged) and flat.to_lists() == expected


@settings(max_examples=60, deadline=None)
@given(train=sequences_strategy)
def test_int32_reviews_stay_int32_and_lower_orders_come_first(train):
    seqs = Ragged.from_lists(train)
    seqs = Ragged(seqs.values.astype(np.int32), seqs.lengths)
    table = NgramTable.build(seqs, 3, base=12)
    out = add_ngrams(seqs, table, 3)
    assert out.values.dtype == np.int32
    assert add_ngrams(seqs, table, 2).to_lists() == reference_add_ngrams(
        train, reference_ids(reference_ngram_set(train, 3), 13), 2
    )


def test_ids_are_deterministic_and_follow_keras_start_index():
    seqs = Ragged.from_lists([[5, 6, 5, 6], [6, 5]])
    table = NgramTable.build(seqs, 2, base=20)
    # bigrams (5,6)=106 and (6,5)=125, numbered from base + 1 in code order
    assert table.codes[0].tolist() == [106, 125] and table.ids[0].tolist() == [21, 22]
    assert table.input_dim == 23


def test_save_and_load_round_trip(tmp_path):
    table = NgramTable.build(Ragged.from_lists([[1, 2, 3, 2, 1], [3, 3]]), 3, base=8)
    table.save(tmp_path / "ngrams.npz")
    again = NgramTable.load(tmp_path / "ngrams.npz")
    assert again.base == table.base
    for a, b in zip(again.codes + again.ids, table.codes + table.ids, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "arrays, problem",
    [
        ({"codes/2": np.array([3, 1]), "ids/2": np.array([9, 10])}, "ascending"),
        ({"codes/2": np.array([1, 3]), "ids/2": np.array([2, 10])}, ">= base"),
        ({"codes/2": np.array([1, 3]), "ids/2": np.array([10, 10])}, "distinct"),
        ({"codes/2": np.array([1, 3]), "ids/2": np.array([10])}, "ids"),
        ({"codes/2": np.array([1.0, 3.0]), "ids/2": np.array([9, 10])}, "int64"),
        ({"codes/2": np.array([1, 3])}, "arrays must be"),
    ],
)
def test_a_bad_table_file_is_a_clear_error(tmp_path, arrays, problem):
    from npnet.saving import archive

    path = tmp_path / "ngrams.npz"
    archive.save_arrays(path, arrays, kind="ngrams", meta={"base": 8})
    with pytest.raises(ValueError, match=problem):
        NgramTable.load(path)


def test_ids_past_the_tables_words_are_refused():
    table = NgramTable.build(Ragged.from_lists([[1, 2]]), 2, base=5)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        add_ngrams([[1, 7]], table)


def test_codes_that_overflow_int64_are_refused():
    with pytest.raises(ValueError, match="int64"):
        NgramTable.build(Ragged.from_lists([[1, 2]]), 5, base=20_000)
