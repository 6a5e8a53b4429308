import json
import zipfile

import numpy as np
import pytest

import npnet
from npnet import layers
from npnet.saving import archive


def model(vocab=100, seed=0, hidden=16, dtype=None):
    return npnet.Sequential(
        [
            layers.Embedding(vocab, 8),
            layers.GlobalAveragePooling1D(),
            layers.Dense(hidden, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=seed,
        dtype=dtype,
    )


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_round_trip_is_bitwise(tmp_path):
    src, dst = model(seed=1), model(seed=2)
    assert not same(src.get_weights(), dst.get_weights())
    path = tmp_path / "weights.npz"
    src.save_weights(path)
    dst.load_weights(path)
    assert same(src.get_weights(), dst.get_weights())
    x = np.arange(30).reshape(3, 10)
    assert np.array_equal(src.predict(x), dst.predict(x))


def test_file_is_plain_npz_with_a_manifest(tmp_path):
    path = tmp_path / "w.npz"
    model().save_weights(path)
    with np.load(path, allow_pickle=False) as stored:  # readable without pickle
        names = set(stored.files)
        header = json.loads(str(stored["__npnet__"]))
    assert names == {
        "__npnet__",
        "0/embedding/embeddings",
        "1/dense/kernel",
        "2/dense/bias",
        "3/dense_1/kernel",
        "4/dense_1/bias",
    }
    assert header["kind"] == "weights" and header["version"] == archive.VERSION
    assert header["manifest"][1] == {"layer": "dense", "class": "Dense", "param": "kernel", "shape": [8, 16]}


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "w.npz"
    m = model()
    m.save_weights(path)  # creates the folder
    good = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model(seed=5).save_weights(path)
    assert path.read_bytes() == good  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["w.npz"]  # and the temp file is gone


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no weights file at .*nope\.npz"):
        model().load_weights(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.0])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "w.npz"
    model().save_weights(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    target = model(seed=3)
    before = target.get_weights()
    with pytest.raises(ValueError, match="truncated, corrupt"):
        target.load_weights(path)
    assert same(before, target.get_weights())


def test_garbage_and_foreign_npz(tmp_path):
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"not a zip at all" * 10)
    with pytest.raises(ValueError, match="not a readable npnet weights file"):
        model().load_weights(garbage)
    foreign = tmp_path / "f.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ValueError, match="not a readable npnet weights file"):
        model().load_weights(foreign)


def test_pickled_content_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("__npnet__.npy", "w") as f:
            np.lib.format.write_array(
                f, np.array(json.dumps({"format": "npnet", "kind": "weights", "version": 1}))
            )
        with zf.open("0/embedding/embeddings.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a readable npnet weights file"):
        model().load_weights(path)
    with pytest.raises(ValueError, match="dtype object"):
        archive.save_arrays(tmp_path / "o.npz", {"a": np.array([None], dtype=object)}, kind="weights")


@pytest.mark.parametrize(
    "other",
    [
        lambda: model(vocab=50),  # another vocabulary
        lambda: model(hidden=8),  # another width
        lambda: npnet.Sequential(
            [layers.Embedding(100, 8), layers.GlobalAveragePooling1D(), layers.Dense(1)]
        ),
    ],
)
def test_other_architecture_is_refused_and_nothing_changes(tmp_path, other):
    path = tmp_path / "w.npz"
    model().save_weights(path)
    target = other()
    before = target.get_weights()
    with pytest.raises(ValueError, match="saved from a different architecture") as info:
        target.load_weights(path)
    assert "Embedding.embeddings(100, 8)" in str(info.value)
    assert same(before, target.get_weights())


def test_other_kind_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    archive.save_arrays(path, {"a": np.ones(2)}, kind="checkpoint")
    with pytest.raises(ValueError, match="holds npnet 'checkpoint' data, not a weights file"):
        model().load_weights(path)
    arrays, header = archive.load_arrays(path, kind="checkpoint")
    assert np.array_equal(arrays["a"], np.ones(2)) and header["kind"] == "checkpoint"


def test_float32_file_loads_into_float64_model(tmp_path):
    path = tmp_path / "w.npz"
    src = model()
    src.save_weights(path)
    dst = model(seed=9, dtype="float64")
    dst.load_weights(path)
    assert dst.get_weights()[0].dtype == np.float64
    assert same([w.astype(np.float64) for w in src.get_weights()], dst.get_weights())
