"""examples/why_the_notebook_stalls.py runs end to end on tiny synthetic data and tells the presets apart."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

from tests.training_helpers import build_data

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "why_the_notebook_stalls.py"


def test_the_example_reads_the_notebooks_tiny_updates(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("why_the_notebook_stalls", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    data_dir = build_data(tmp_path, n_per_class=20)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = example.main(
            ["--data-dir", str(data_dir), "--train-size", "40", "--epochs", "2", "--every", "1"]
        )
    assert code == 0
    text = out.getvalue()
    notebook, tuned = text.split("\nnotebook:\n")[1].split("\ntuned:\n")
    assert "too small" in notebook and "too small" not in tuned  # lr 1e-5 vs 1e-3
    kernel_row = next(line for line in text.splitlines() if line.startswith("update/weight dense/kernel"))
    notebook_ratio, tuned_ratio = (float(v) for v in kernel_row.split()[-2:])
    assert tuned_ratio > 30 * notebook_ratio
