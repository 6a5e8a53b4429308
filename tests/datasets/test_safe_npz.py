"""The restricted npz reader: hostile pickles are refused before anything runs; damage is a clear error."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npnet.datasets.build import write_npz
from npnet.datasets.safe_npz import load_imdb_npz, read_npz
from npnet.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def object_array(items):
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def valid_arrays(**overrides):
    arrays = {
        "x_train": object_array([[1, 2, 3], [4]]),
        "y_train": np.array([0, 1]),
        "x_test": object_array([[5, 1]]),
        "y_test": np.array([1]),
    }
    arrays.update(overrides)
    return arrays


class TouchMarker:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize(
    "where",
    ["review", "inside a review", "labels"],
)
def test_hostile_npz_is_refused_and_its_payload_never_runs(tmp_path, where):
    marker = tmp_path / "payload-ran"
    payload = TouchMarker(marker)
    if where == "review":
        arrays = valid_arrays(x_train=object_array([payload, [1]]))
    elif where == "inside a review":
        arrays = valid_arrays(x_test=object_array([[1, payload]]))
    else:
        arrays = valid_arrays(y_train=object_array([payload, 1]))
    path = tmp_path / "imdb.npz"
    np.savez(path, **arrays)

    # The file is really hostile: NumPy's unrestricted loading runs the payload (in a child process).
    load = f"import numpy as np; f = np.load({str(path)!r}, allow_pickle=True); [f[k] for k in f.files]"
    subprocess.run([sys.executable, "-c", load], check=True, capture_output=True)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(DataError, match=r"refusing to load .*posix\.system.*nothing in it was run"):
        load_imdb_npz(path)
    assert not marker.exists()


def test_numpy_scalars_inside_lists_are_refused(tmp_path):
    path = tmp_path / "imdb.npz"
    np.savez(path, **valid_arrays(x_train=object_array([[np.int64(3)], [1]])))
    with pytest.raises(DataError, match="scalar"):
        load_imdb_npz(path)


def test_reads_numpy_2_files_and_numpy_1_style_files(tmp_path):
    modern = tmp_path / "modern.npz"
    np.savez(modern, **valid_arrays())  # pickles name numpy._core
    legacy = tmp_path / "legacy.npz"
    with open(legacy, "wb") as f:
        write_npz(f, valid_arrays())  # names numpy.core, as Keras's own file does
    assert b"numpy.core.multiarray" in legacy.read_bytes()
    for path in (modern, legacy):
        arrays = load_imdb_npz(path)
        assert arrays.x_train.lengths.tolist() == [3, 1]
        assert arrays.x_train.values.tolist() == [1, 2, 3, 4]
        assert arrays.x_test.values.tolist() == [5, 1]
        assert arrays.y_train.tolist() == [0, 1]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_npz(tmp_path / "imdb.npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "imdb.npz"
    path.write_text("<html>404 not found</html>")
    with pytest.raises(DataError, match=r"not a valid npz.*npnet data fetch"):
        load_imdb_npz(path)


def test_truncated_npz(tmp_path):
    path = tmp_path / "imdb.npz"
    np.savez(path, **valid_arrays())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a valid npz"):
        load_imdb_npz(path)


def test_member_that_is_not_an_array(tmp_path):
    path = tmp_path / "imdb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "hello")
    with pytest.raises(DataError, match=r"'README.txt' is not an \.npy array"):
        read_npz(path)


def test_header_that_lies_about_the_pickle(tmp_path):
    path = tmp_path / "imdb.npz"
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, np.lib.format.header_data_from_array_1_0(object_array([[1]]))
    )
    buffer.write(pickle.dumps([1, 2], protocol=3))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", buffer.getvalue())
    with pytest.raises(DataError, match="not the object array its header announces"):
        read_npz(path)


def test_unsupported_npy_version(tmp_path):
    path = tmp_path / "imdb.npz"
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.arange(3), version=(3, 0))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("y_train.npy", buffer.getvalue())
    with pytest.raises(DataError, match=r"unsupported \.npy format version"):
        read_npz(path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"a": np.arange(3)}, "it holds a, expected x_train, y_train, x_test, y_test"),
        (valid_arrays(extra=np.arange(2)), "it holds extra, x_test"),
        (
            valid_arrays(x_train=np.array([[1, 2], [3, 4]], dtype=object)),
            r"an array shape \(2, 2\) that is not 1-D",
        ),
        (valid_arrays(x_train=np.array([1, 2])), "1-D object array of lists, found a 1-D int64"),
        (valid_arrays(x_train=object_array([])), "x_train holds no reviews"),
        (valid_arrays(x_train=object_array([(1, 2), [3]])), "something other than lists"),
        (valid_arrays(x_train=object_array([[1.0], [3]])), "not Python ints"),
        (valid_arrays(x_train=object_array([[True], [3]])), "not Python ints"),
        (valid_arrays(x_test=object_array([[0, 1]])), "holds id 0; word ranks start at 1"),
        (valid_arrays(x_test=object_array([[2**70]])), "too large for int64"),
        (valid_arrays(y_train=np.array([0, 2])), r"labels other than 0 and 1: \[2\]"),
        (valid_arrays(y_train=np.array([0.0, 1.0])), "y_train must be a 1-D integer array"),
        (valid_arrays(y_train=np.array([0, 1, 1])), "has 3 labels for 2 reviews"),
    ],
)
def test_wrong_content_is_named(tmp_path, arrays, message):
    path = tmp_path / "imdb.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_imdb_npz(path)


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("npz") / "imdb.npz"
    np.savez(path, **valid_arrays())
    return path.read_bytes()


def test_a_member_flagged_as_encrypted_is_a_data_error(tmp_path, valid_bytes):
    # Found by the fuzz test below: one flipped bit marks a zip member encrypted, and zipfile then raises
    # RuntimeError ("password required") rather than BadZipFile.
    damaged = bytearray(valid_bytes)
    central = damaged.find(b"PK\x01\x02")
    assert central >= 0
    damaged[central + 8] |= 1  # general-purpose flag bit 0: encrypted
    path = tmp_path / "encrypted.npz"
    path.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="not a valid npz"):
        load_imdb_npz(path)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_gives_a_data_error_or_the_right_content(tmp_path, valid_bytes, data):
    damaged = bytearray(valid_bytes)
    if data.draw(st.booleans(), label="truncate"):
        damaged = damaged[: data.draw(st.integers(0, len(damaged) - 1), label="length")]
    else:
        position = data.draw(st.integers(0, len(damaged) - 1), label="position")
        damaged[position] ^= data.draw(st.integers(1, 255), label="xor")
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(damaged))
    try:
        arrays = load_imdb_npz(path)
    except DataError:
        return
    # A change the format does not check (e.g. a timestamp) may leave the content intact, never altered.
    assert arrays.x_train.values.tolist() == [1, 2, 3, 4]
    assert arrays.x_test.values.tolist() == [5, 1]
    assert arrays.y_train.tolist() == [0, 1] and arrays.y_test.tolist() == [1]


def forged_pointer_pickle(flags: int = 0, data: bytes = b"AAAAAAAA") -> bytes:
    """The pickle of a 1-element object array, by hand, using only the allow-listed names: dtype('O8') gets
    a state with its flags cleared, then the array state gives 8 raw bytes, which unrestricted NumPy takes as
    the element's PyObject pointer."""
    return b"".join([
        b"\x80\x03cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R",
        b"(K\x01K\x01\x85cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R",
        b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK", bytes([flags]), b"tb",
        b"\x89C", bytes([len(data)]), data, b"tb.",
    ])  # fmt: skip


def write_forged_npz(path, pickled: bytes) -> None:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + pickled)
        for key, value in valid_arrays().items():
            if key != "x_train":
                buffer = io.BytesIO()
                np.save(buffer, value, allow_pickle=True)
                archive.writestr(f"{key}.npy", buffer.getvalue())


@pytest.mark.slow
def test_a_forged_object_pointer_is_refused_in_words_without_a_crash(tmp_path):
    """A bug the suite once let through: only allow-listed names, yet unrestricted NumPy follows an
    attacker's pointer."""
    path = tmp_path / "imdb.npz"
    write_forged_npz(path, forged_pointer_pickle())
    # The file is really hostile: NumPy's own loader dies on a signal reading it (in a child process).
    crash = f"import numpy as np; print(repr(np.load({str(path)!r}, allow_pickle=True)['x_train'][0]))"
    assert subprocess.run([sys.executable, "-c", crash], capture_output=True).returncode < 0
    for command in (
        f"from npnet.datasets.safe_npz import load_imdb_npz; load_imdb_npz({str(path)!r})",
        f"from npnet.cli import main; raise SystemExit(main(['data', 'info', '--verify', '--data-dir', "
        f"{str(tmp_path)!r}]))",
    ):
        done = subprocess.run([sys.executable, "-c", command], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        assert done.returncode == 1, (done.returncode, done.stderr)  # an error, never a signal
        assert "dtype state" in done.stderr and "not a valid npz" in done.stderr


@pytest.mark.parametrize(
    ("pickled", "problem"),
    [
        (forged_pointer_pickle(flags=63), "object-array data given as bytes, not a list"),
        (forged_pointer_pickle(flags=0), "a dtype state"),
        (forged_pointer_pickle(flags=63).replace(b"O8", b"i8"), "is not the object dtype"),
        (forged_pointer_pickle(flags=63).replace(b"K\x00\x85C\x01b", b"K\x01\x85C\x01b"), "reconstruction"),
    ],
)
def test_every_step_of_the_object_array_pickle_is_checked(tmp_path, pickled, problem):
    path = tmp_path / "imdb.npz"
    write_forged_npz(path, pickled)
    with pytest.raises(DataError, match=problem):
        read_npz(path)
