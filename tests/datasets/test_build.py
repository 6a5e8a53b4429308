"""The offline builder: Keras's format from an aclImdb-shaped tree (folder or tarball), deterministic bytes,
the tokenizer rule, encode/decode with the built index, clear errors; and the real Stanford tarball (slow)."""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npnet.cli import main
from npnet.datasets import imdb
from npnet.datasets.build import build_imdb
from npnet.datasets.tokenizer import rank_corpus, text_to_word_sequence
from npnet.errors import DataError

# Typed out again here (not imported) so that a change to the rule in the package shows up as a failure.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def reference_words(text):
    text = text.lower()
    for c in KERAS_FILTERS:
        text = text.replace(c, " ")
    return [w for w in text.split(" ") if w]


REVIEWS = {
    "train/pos/0_9.txt": "The movie was GREAT!<br /><br />Great acting, don't miss it.",
    "train/pos/12_7.txt": "the the the. A film\tto see\nagain and again",
    "train/neg/10_2.txt": "Ça ne va pas: the café was bad zebra apple",
    "train/neg/3_1.txt": "Bad movie; the plot (if any) was thin...",
    "test/pos/1_10.txt": "Loved it! The best.",
    "test/neg/2_4.txt": "!!!",
    "test/neg/0_3.txt": "Boring. The end",
}
# The npz order: per split, neg then pos, each by numeric file id.
ORDER = {
    "train": ["train/neg/3_1.txt", "train/neg/10_2.txt", "train/pos/0_9.txt", "train/pos/12_7.txt"],
    "test": ["test/neg/0_3.txt", "test/neg/2_4.txt", "test/pos/1_10.txt"],
}
NOT_REVIEWS = {
    "README": "readme words",
    "imdb.vocab": "vocabword",
    "train/urls_pos.txt": "http://example.com/urlword",
    "train/unsup/0_0.txt": "unsupword unsupword",
    "train/labeledBow.feat": "0:1 featword",
}


def expected_word_index():
    counts = Counter(w for name in ORDER["train"] + ORDER["test"] for w in reference_words(REVIEWS[name]))
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return {w: r for r, w in enumerate(ranked, start=1)}


def write_tree(root: Path, reviews=REVIEWS, extras=NOT_REVIEWS) -> Path:
    for name, text in {**reviews, **extras}.items():
        path = root / "aclImdb" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    return root


def write_tarball(path: Path, tree: Path) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        archive.add(tree / "aclImdb", arcname="aclImdb")
    return path


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "src")


@pytest.fixture
def tarball(tmp_path, tree):
    return write_tarball(tmp_path / "aclImdb_v1.tar.gz", tree)


def read_built(directory):
    with np.load(directory / "imdb.npz", allow_pickle=True) as f:  # NumPy's loader, as Keras reads it
        arrays = {k: f[k] for k in f.files}
    index = json.loads((directory / "imdb_word_index.json").read_text())
    return arrays, index


def test_builds_keras_format(tree, tmp_path):
    out = tmp_path / "data"
    provenance = build_imdb(tree, out)
    arrays, index = read_built(out)
    assert sorted(arrays) == ["x_test", "x_train", "y_test", "y_train"]
    assert index == expected_word_index()
    assert index["the"] == 1 and "br" in index and "don't" in index and "ça" in index
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        assert x.dtype == object and x.shape == (len(ORDER[split]),)
        assert all(type(review) is list and all(type(r) is int for r in review) for review in x)
        assert y.dtype == np.int64
        assert y.tolist() == [1 if "/pos/" in name else 0 for name in ORDER[split]]
        assert [list(review) for review in x] == [
            [index[w] for w in reference_words(REVIEWS[name])] for name in ORDER[split]
        ]
    assert "unsupword" not in index and "vocabword" not in index and "featword" not in index
    assert provenance["counts"] == {
        "test_neg": 2,
        "test_pos": 1,
        "train_neg": 2,
        "train_pos": 2,
        "train": 4,
        "test": 3,
        "words": len(index),
        "tokens": sum(len(reference_words(t)) for t in REVIEWS.values()),
    }
    assert json.loads((out / "imdb_provenance.json").read_text()) == provenance


def test_equal_counts_rank_in_code_point_order(tree, tmp_path):
    build_imdb(tree, tmp_path)
    _, index = read_built(tmp_path)
    assert index["bad"] < index["apple"] < index["zebra"]  # bad: twice; apple, zebra: once each
    once = sorted(
        (w for w, c in Counter(w for t in REVIEWS.values() for w in reference_words(t)).items() if c == 1)
    )
    assert [index[w] for w in once] == sorted(index[w] for w in once)


def test_tarball_and_folder_give_byte_identical_files(tree, tarball, tmp_path):
    from_tar = build_imdb(tarball, tmp_path / "a")
    from_folder = build_imdb(tree / "aclImdb", tmp_path / "b")  # the aclImdb folder itself works too
    for name in ("imdb.npz", "imdb_word_index.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert from_tar["source"]["reviews_sha256"] == from_folder["source"]["reviews_sha256"]
    assert from_tar["source"]["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert from_folder["source"]["sha256"] is None


def test_rebuilding_gives_byte_identical_files(tarball, tmp_path):
    build_imdb(tarball, tmp_path / "a")
    build_imdb(tarball, tmp_path / "b")
    for name in ("imdb.npz", "imdb_word_index.json", "imdb_provenance.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_load_data_reads_the_build(tree, tmp_path):
    build_imdb(tree, tmp_path)
    (x_train, y_train), (x_test, _) = imdb.load_data(tmp_path / "imdb.npz", num_words=10)
    assert len(x_train) == 4 and len(x_test) == 3 and sorted(y_train.tolist()) == [0, 0, 1, 1]
    assert all(review[0] == 1 and max(review) < 10 for review in x_train)


def test_encode_gives_what_load_data_gives_and_decode_reads_it_back(tree, tmp_path):
    build_imdb(tree, tmp_path)
    arrays, index = read_built(tmp_path)
    for name, ranks in zip(ORDER["train"], arrays["x_train"], strict=True):
        ids = imdb.encode(REVIEWS[name], index)
        assert ids == [1] + [r + 3 for r in ranks]
        assert imdb.decode(ids, index) == " ".join(["<START>", *reference_words(REVIEWS[name])])


def test_encode_rules():
    index = {"the": 1, "movie": 2, "great": 3}
    assert imdb.encode("The GREAT movie, unknown!", index) == [1, 4, 6, 5, 2]
    assert imdb.encode("the great movie unknown", index, num_words=6) == [1, 4, 2, 5, 2]
    assert imdb.encode("the great movie unknown", index, num_words=6, oov_char=None) == [1, 4, 5]
    assert imdb.encode("the great", index, skip_top=5, start_char=None) == [2, 6]
    assert imdb.encode("the great", index, start_char=None, index_from=0) == [1, 3]


def test_decode_names_the_special_ids():
    index = {"the": 1, "movie": 2}
    assert imdb.decode([1, 4, 5, 2, 99, 0, 0], index) == "<START> the movie <UNK> <UNK> <PAD> <PAD>"
    assert imdb.decode(np.array([[1, 3, 4]]), index, index_from=2) == "<START> the movie"


def test_get_word_index_validates(tmp_path):
    path = tmp_path / "index.json"
    path.write_text('{"the": 1, "a": 2}')
    assert imdb.get_word_index(path) == {"the": 1, "a": 2}
    path.write_text('{"the": 1, "a": 0}')
    with pytest.raises(DataError, match="'a' has rank 0, expected an integer from 1"):
        imdb.get_word_index(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match="not a valid word index"):
        imdb.get_word_index(path)
    with pytest.raises(DataError, match="no such file"):
        imdb.get_word_index(tmp_path / "missing.json")


def test_a_tarball_that_is_not_aclimdb(tmp_path):
    other = tmp_path / "other"
    (other / "photos").mkdir(parents=True)
    (other / "photos" / "cat.txt").write_text("meow")
    tar = tmp_path / "other.tar.gz"
    with tarfile.open(tar, "w:gz") as archive:
        archive.add(other, arcname="other")
    with pytest.raises(
        DataError, match="does not look like the Stanford IMDB reviews: found no reviews in train/neg"
    ):
        build_imdb(tar, tmp_path / "data")


def test_a_tree_missing_one_folder_names_it(tmp_path):
    reviews = {k: v for k, v in REVIEWS.items() if not k.startswith("test/neg/")}
    with pytest.raises(DataError, match=r"found no reviews in test/neg \(expected aclImdb/"):
        build_imdb(write_tree(tmp_path / "src", reviews), tmp_path / "data")


def test_not_a_tar_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive at all" * 10)
    with pytest.raises(DataError, match=r"cannot read .* as a tar archive"):
        build_imdb(junk, tmp_path / "data")


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_a_truncated_tarball_is_an_error_not_a_smaller_dataset(tmp_path, tarball, fraction):
    data = tarball.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataError, match=r"cannot read .*cut\.tar\.gz as a tar archive"):
        build_imdb(cut, tmp_path / "data")


def test_a_corrupted_tarball_is_an_error(tmp_path, tarball):
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"cannot read .*bad\.tar\.gz as a tar archive"):
        build_imdb(bad, tmp_path / "data")


def test_missing_source(tmp_path):
    with pytest.raises(DataError, match=r"no such file or folder: .*aclImdb_v1\.tar\.gz"):
        build_imdb(tmp_path / "nowhere.tar.gz", tmp_path / "data")


def test_a_failed_build_keeps_the_previous_files(tree, tmp_path):
    out = tmp_path / "data"
    build_imdb(tree, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = write_tree(tmp_path / "bad")
    (bad / "aclImdb" / "train" / "pos" / "5_8.txt").write_bytes(b"caf\xe9 latin-1")
    with pytest.raises(DataError, match=r"review train/pos/5_8\.txt is not UTF-8"):
        build_imdb(bad, out, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unwritable_data_directory_fails_before_reading(tree, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DataError, match="cannot write to the data directory"):
        build_imdb(tree, blocker / "data")


def test_cli_build_then_info(tarball, tmp_path, capsys):
    out = str(tmp_path / "data")
    assert main(["data", "build", "--from", str(tarball), "--data-dir", out]) == 0
    assert "built" in capsys.readouterr().out
    assert main(["data", "info", "--data-dir", out, "--verify"]) == 0
    info = capsys.readouterr().out
    assert "provenance (matches the files): npnet data build" in info
    assert "verified imdb.npz: 4 train, 3 test reviews, 2 + 1 positive" in info


def test_cli_build_error_is_one_line(tmp_path, capsys):
    assert main(["data", "build", "--from", str(tmp_path / "nothing"), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("npnet data build: error: no such file or folder") and err.count("\n") == 1


text_st = st.text(alphabet=st.sampled_from(list("aZé ß'\r\xa0\u2028x1") + list(KERAS_FILTERS)), max_size=40)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(text=text_st)
def test_tokenizer_is_the_keras_rule(text):
    assert text_to_word_sequence(text) == reference_words(text)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(texts=st.lists(text_st, max_size=8))
def test_rank_corpus_matches_a_counter(texts):
    corpus = rank_corpus(texts)
    counts = Counter(w for t in texts for w in reference_words(t))
    assert corpus.words == sorted(counts, key=lambda w: (-counts[w], w))
    index = corpus.word_index()
    assert corpus.ranks.tolist() == [index[w] for t in texts for w in reference_words(t)]
    assert corpus.lengths.tolist() == [len(reference_words(t)) for t in texts]


@pytest.mark.slow
def test_the_real_stanford_reviews(imdb_data_dir, imdb_tarball, tmp_path):
    arrays, index = read_built(imdb_data_dir)
    assert len(arrays["x_train"]) == 25000 and len(arrays["x_test"]) == 25000
    assert arrays["y_train"].sum() == 12500 and arrays["y_test"].sum() == 12500
    assert index["the"] == 1 and "br" in index and "don't" in index
    provenance = json.loads((imdb_data_dir / "imdb_provenance.json").read_text())
    if imdb_tarball.name == "aclImdb_v1_labeled.tar.gz":
        assert (
            provenance["source"]["sha256"]
            == "6ba2d327afc4436823be2ba6fd96ac76ce355fb1a7487abb3674c7b4b2f5305f"
        )

    build_imdb(imdb_tarball, tmp_path, force=True)  # again: the same bytes
    for name in ("imdb.npz", "imdb_word_index.json"):
        assert (tmp_path / name).read_bytes() == (imdb_data_dir / name).read_bytes()

    (x_train, y_train), (x_test, y_test) = imdb.load_data(imdb_data_dir / "imdb.npz", num_words=10000)
    assert x_train.shape == (25000,) and x_test.shape == (25000,)
    ids = np.concatenate([np.array(r) for r in x_train])
    assert ids.min() == 1 and ids.max() == 9999
    assert all(review[0] == 1 for review in x_test)
    assert y_train.sum() == 12500 and y_test.sum() == 12500


def test_build_writes_the_flat_cache_equal_to_one_made_from_the_npz(tree, tmp_path, monkeypatch):
    out = tmp_path / "out"
    build_imdb(tree, out)
    cache = imdb.flat_cache_path(out / "imdb.npz")
    assert cache.is_file()
    with np.load(cache, allow_pickle=False) as f:
        built_cache = {k: f[k] for k in f.files}

    # The cache from the build must be read as is: the pickled npz is never unpickled again.
    def refuse(path):
        raise AssertionError("load_padded unpickled imdb.npz although the build left a cache")

    with monkeypatch.context() as m:
        m.setattr(imdb, "load_imdb_npz", refuse)
        from_cache = imdb.load_padded(8, out / "imdb.npz")

    cache.unlink()
    from_npz = imdb.load_padded(8, out / "imdb.npz")  # remakes the cache from the npz itself
    with np.load(cache, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(built_cache)
        for key in f.files:
            assert f[key].dtype == built_cache[key].dtype, key
            np.testing.assert_array_equal(f[key], built_cache[key])
    for (x_a, y_a), (x_b, y_b) in zip(from_cache, from_npz, strict=True):
        np.testing.assert_array_equal(x_a, x_b)
        np.testing.assert_array_equal(y_a, y_b)


def test_build_over_existing_data_needs_force(tree, tmp_path, capsys):
    """As `data fetch` does: existing data is replaced only when asked."""
    out = tmp_path / "data"
    build_imdb(tree, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["data", "build", "--from", str(tree), "--data-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"npnet data build: error: {out} already holds imdb.npz and imdb_word_index.json")
    assert "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main(["data", "build", "--from", str(tree), "--data-dir", str(out), "--force"]) == 0


def test_a_build_that_cannot_finish_writing_changes_nothing(tree, tmp_path, monkeypatch):
    """The disk fills after imdb.npz and its cache are written: the old dataset stays whole, no stage left."""
    import npnet.datasets.build as build

    out = tmp_path / "data"
    old = {name: "old words, other words" for name in REVIEWS}
    build_imdb(write_tree(tmp_path / "old", old), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_write = build.atomic_write

    def full_disk(path, write):
        if Path(path).name == "imdb_word_index.json":
            raise OSError(28, "No space left on device")
        return real_write(path, write)

    monkeypatch.setattr(build, "atomic_write", full_disk)
    with pytest.raises(DataError, match=r"No space left on device\); nothing there changed"):
        build_imdb(tree, out, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
