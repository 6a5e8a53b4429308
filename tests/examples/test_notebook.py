"""examples/imdb_notebook.ipynb is stored with the outputs of one full run (examples/execute_notebook.py), and
those outputs are kept from going stale.

Stale means the stored outputs are no longer what running the notebook gives. Three things make them so, and
each has a test here: a code cell edited without re-running (the code digest stamped at the run no longer
matches), a library change that alters what a cell shows (a re-run on a small synthetic IMDB must show the
same kinds of output, and byte for byte the same where the data plays no part: the version, the summary), and
a library change that alters the numbers (the notebook preset retrained on the real reviews must reach the
stored test accuracy). The fix for all three is the one command in the notebook's header."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from examples.execute_notebook import COMMAND, code_digest, run
from npnet import runs
from tests.training_helpers import build_data

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "imdb_notebook.ipynb"
ONE_REVIEW = 1 / 25000  # accuracies that differ by less than half of this count the same right answers
STALE = f"the notebook's stored outputs are stale; regenerate them: {COMMAND}"

if os.environ.get("CI"):  # the notebook extra is required in CI: a missing one is an error, not a skip
    import nbformat
else:
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the notebook extra")
    pytest.importorskip("nbclient", reason="the notebook test needs the notebook extra")


def _code(notebook: Any) -> list[Any]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _stored() -> Any:
    return nbformat.read(NOTEBOOK, as_version=4)


def _printed(cell: Any) -> str:
    return "".join(output.get("text", "") for output in cell["outputs"] if output["output_type"] == "stream")


def _cell(notebook: Any, starts_with: str) -> Any:
    """The one code cell whose source starts with `starts_with`."""
    (found,) = [cell for cell in _code(notebook) if cell["source"].startswith(starts_with)]
    return found


def _kinds(cell: Any) -> list[tuple[str, ...]]:
    """What a cell shows, without the values: ("stream", "stdout"), ("display_data", "image/png", ...)."""
    return [
        (output["output_type"], output["name"])
        if output["output_type"] == "stream"
        else (output["output_type"], *sorted(output.get("data", {})))
        for output in cell["outputs"]
    ]


def test_the_notebook_keeps_the_scripts_code_in_its_order():
    script = (REPO / "examples" / "imdb_notebook.py").read_text()
    position = 0
    for cell in _code(_stored()):
        for line in cell["source"].splitlines():
            if line.strip() and line != "plt.show()":
                found = script.find(line, position)
                assert found >= 0, f"notebook line not in imdb_notebook.py (in this order): {line!r}"
                position = found


def test_the_stored_outputs_are_those_of_the_current_code():
    notebook = _stored()
    stamp = notebook.metadata.get("npnet", {}).get("code_sha256")
    assert stamp == code_digest(notebook.cells), STALE


def test_the_stored_outputs_come_from_one_run_top_to_bottom():
    cells = _code(_stored())
    assert [cell["execution_count"] for cell in cells] == list(range(1, len(cells) + 1)), STALE
    for cell in cells:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"a stored cell failed: {cell['source'][:60]!r}"
            assert output.get("name") != "stderr", f"a stored cell warned: {output['text'][:200]!r}"


def test_the_stored_outputs_are_a_full_runs_with_its_plots():
    notebook = _stored()
    assert "Training entries: 25000, labels: 25000" in _printed(_cell(notebook, 'print(f"Training entries'))
    assert "(25000, 256) (25000, 256)" in _printed(_cell(notebook, "print(len(train_data[0])"))
    epochs = re.findall(
        r"^Epoch (\d+)/60 .* val_loss: ([\d.]+) - val_accuracy: ([\d.]+)$",
        _printed(_cell(notebook, "history = model.fit(")),
        flags=re.M,
    )
    assert [int(epoch) for epoch, _, _ in epochs] == list(range(1, 61))

    # The figures agree with each other: evaluate, the confusion matrix, the last cell and the last epoch.
    loss, accuracy = json.loads(_printed(_cell(notebook, "results = model.evaluate(")))
    crosstab = _printed(_cell(notebook, "print(\n    pd.crosstab"))
    (true_negatives, false_positives), (false_negatives, true_positives) = [
        (int(a), int(b)) for a, b in re.findall(r"^[01]\s+(\d+)\s+(\d+)$", crosstab, flags=re.M)
    ]
    assert true_negatives + false_positives + false_negatives + true_positives == 25000
    assert (true_negatives + true_positives) / 25000 == pytest.approx(accuracy, abs=ONE_REVIEW / 2)
    plots = [_cell(notebook, '# "bo" is for'), _cell(notebook, "plt.plot(epochs, acc")]
    assert float(_printed(plots[1])) == pytest.approx(accuracy, abs=ONE_REVIEW / 2)
    assert (float(epochs[-1][1]), float(epochs[-1][2])) == (round(loss, 4), round(accuracy, 4))

    for cell in plots:
        images = [
            output["data"]["image/png"] for output in cell["outputs"] if "image/png" in output.get("data", {})
        ]
        assert len(images) == 1 and base64.b64decode(images[0]).startswith(b"\x89PNG"), cell["source"][:40]


@pytest.mark.slow
def test_a_rerun_shows_what_is_stored(tmp_path, monkeypatch):
    """Run the notebook top to bottom on 240 made-up reviews (60 epochs take seconds) and compare it with the
    stored run: the same kinds of output in every cell, the same text where the data plays no part."""
    monkeypatch.setenv("NPNET_DATA_DIR", str(build_data(tmp_path)))
    stored = _stored()
    notebook = copy.deepcopy(stored)
    run(notebook, tmp_path, timeout=300)

    printed = "".join(_printed(cell) for cell in _code(notebook))
    assert "Training entries: 120, labels: 120" in printed
    assert "Predicted" in printed and "Actual" in printed  # the confusion matrix with the notebook's labels
    assert [_kinds(cell) for cell in _code(notebook)] == [_kinds(cell) for cell in _code(stored)], STALE
    for data_free in ("import matplotlib", "model.summary()"):
        assert _cell(notebook, data_free)["outputs"] == _cell(stored, data_free)["outputs"], STALE


@pytest.mark.slow
def test_the_stored_accuracy_is_the_notebook_presets(imdb_data_dir):
    """The notebook is `npnet train`'s notebook preset (seed 0), cell by cell: retraining the preset on the
    real reviews (~10-30 s) must reach the stored test loss and accuracy."""
    config = runs.preset_config("notebook")
    data = runs.load_imdb(config, imdb_data_dir)
    model = runs.build_model(config)
    (x_train, y_train), validation = runs.fit_arrays(config, data)
    model.fit(
        x_train,
        y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=validation,
        verbose=0,
    )
    loss, accuracy = model.evaluate(data.x_test, data.test_labels)

    stored_loss, stored_accuracy = json.loads(_printed(_cell(_stored(), "results = model.evaluate(")))
    assert (stored_loss, stored_accuracy) == (
        pytest.approx(loss, rel=1e-5),
        pytest.approx(accuracy, abs=ONE_REVIEW / 2),
    ), STALE
