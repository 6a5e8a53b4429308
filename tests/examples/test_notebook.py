"""examples/imdb_notebook.ipynb runs top to bottom (nbclient, an ipykernel kernel) on a small synthetic IMDB,
so it never rots; it is kept without outputs and in step with examples/imdb_notebook.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.training_helpers import build_data

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "imdb_notebook.ipynb"

if os.environ.get("CI"):  # the notebook extra is required in CI: a missing one is an error, not a skip
    import nbclient
    import nbformat
else:
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the notebook extra")
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the notebook extra")


def _code_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def test_the_notebook_is_stored_without_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


def test_the_notebook_keeps_the_scripts_code_in_its_order():
    script = (REPO / "examples" / "imdb_notebook.py").read_text()
    position = 0
    for source in _code_cells():
        for line in source.splitlines():
            if line.strip() and line != "plt.show()":
                found = script.find(line, position)
                assert found >= 0, f"notebook line not in imdb_notebook.py (in this order): {line!r}"
                position = found


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    data_dir = build_data(tmp_path)  # 240 made-up reviews: 60 epochs take seconds
    monkeypatch.setenv("NPNET_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "Training entries: 120, labels: 120" in outputs
    assert "Predicted" in outputs and "Actual" in outputs  # the confusion matrix with the notebook's labels
    assert "dict_keys(['loss', 'accuracy', 'val_loss', 'val_accuracy'" in outputs
