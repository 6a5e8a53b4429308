"""ModelCheckpoint refuses a filepath it could never format when it is made (not after an epoch of
training), and a write that fails (a full disk, `ulimit -f`, a read-only folder) names the file, the
reason and only the fix that fits the OS's errno, leaving no partial file."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from npnet import callbacks, layers, models
from npnet.errors import FileWriteError


@pytest.mark.parametrize(
    ("filepath", "field", "reason"),
    [
        ("m-{epoch:s}.npnet", "{epoch:s}", "Unknown format code 's' for object of type 'int'"),
        ("m-{val_loss:d}.npnet", "{val_loss:d}", "Unknown format code 'd' for object of type 'float'"),
        ("m-{}.npnet", "{}", "positional fields"),
        ("m-{val_loss.size}.npnet", "{val_loss.size}", "has no attribute 'size'"),
    ],
)
def test_an_unformattable_filepath_is_refused_at_construction(filepath, field, reason):
    with pytest.raises(ValueError) as error:
        callbacks.ModelCheckpoint(filepath)
    message = str(error.value)
    assert f"ModelCheckpoint filepath {filepath!r}" in message
    assert f"its field {field} fails" in message and reason in message
    assert "use named fields such as {epoch:02d} or {val_loss:.4f}" in message


def test_an_unpaired_brace_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"'m-\{epoch\.npnet' is not a valid template .*a literal brace"):
        callbacks.ModelCheckpoint("m-{epoch.npnet")


@pytest.mark.parametrize(
    "filepath",
    [
        "m.npnet",
        "m-{epoch}.npnet",
        "m-{epoch:02d}-{val_loss:.4f}.npnet",
        "m-{loss:.2e}-{accuracy:.3f}-{learning_rate:g}.npnet",
        "m-{any_metric_logged_later:.2f}.npnet",  # which keys the logs hold is only known at the epoch's end
        "m-{{literal}}-{epoch:03d}.npnet",
    ],
)
def test_templates_keras_formats_are_accepted(filepath):
    callbacks.ModelCheckpoint(filepath)


def _trained_with(checkpoint: callbacks.ModelCheckpoint) -> None:
    model = models.Sequential([layers.Embedding(10, 2), layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = np.random.default_rng(0).integers(1, 10, size=(8, 3))
    model.fit(x, np.ones(8), epochs=1, batch_size=4, callbacks=[checkpoint], verbose=0)


def test_the_logged_values_format_as_the_template_says(tmp_path):
    _trained_with(callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{loss:.1f}.npnet"), monitor="loss"))
    (saved,) = os.listdir(tmp_path)
    assert saved.startswith("m-01-") and saved.endswith(".npnet")


@pytest.fixture
def full_disk(monkeypatch):
    """np.savez (the writer behind model.save and save_weights) writes part of the file, then fails as the
    OS would with the errno the test asks for."""

    def fail(code: int):
        def write_then_fail(f, **arrays):
            f.write(b"PK\x03\x04 half an archive")
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(np, "savez", write_then_fail)

    return fail


@pytest.mark.parametrize("weights_only", [False, True])
@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "free some space, or pass ModelCheckpoint a filepath in another folder"),
        (errno.EFBIG, "free some space, or raise the file size limit (ulimit -f), or pass ModelCheckpoint"),
        (errno.EACCES, "choose a writable folder, or pass ModelCheckpoint a filepath in another folder"),
    ],
)
def test_a_failed_write_names_the_path_and_its_errnos_fix(tmp_path, full_disk, code, fix, weights_only):
    before = tmp_path / "m-01.npnet"
    before.write_bytes(b"an earlier save")
    checkpoint = callbacks.ModelCheckpoint(
        str(tmp_path / "m-{epoch:02d}.npnet"), monitor="loss", save_weights_only=weights_only
    )
    full_disk(code)
    with pytest.raises(FileWriteError) as error:
        _trained_with(checkpoint)
    message = str(error.value)
    assert f"ModelCheckpoint could not save epoch 1 to {str(before)!r} ({os.strerror(code)})" in message
    assert fix in message
    assert ("space" in message) is (code in (errno.ENOSPC, errno.EFBIG))  # space only when space ran out
    assert isinstance(error.value, OSError) and error.value.errno == code
    assert error.value.filename == str(before)
    # atomic: the earlier file intact, no temp file left beside it
    assert os.listdir(tmp_path) == ["m-01.npnet"] and before.read_bytes() == b"an earlier save"
