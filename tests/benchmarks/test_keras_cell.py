"""`npnet compare --with keras`: beside each preset its Keras-JAX twin (benchmarks/keras_cell.py), in the
same table, from runs of its own whose rows the comparison copies; the twin has the preset's parameters."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from npnet import compare, sweep
from tests.training_helpers import build_data, run_cli

if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
    pytest.skip("--with keras needs the parity/bench extra (keras, jax)", allow_module_level=True)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parity
def test_keras_twins_join_the_comparison(tmp_path: Path) -> None:
    data_dir = build_data(tmp_path / "imdb", n_per_class=30)
    out = tmp_path / "c"
    code, stdout, err = run_cli(
        "compare", "--presets", "notebook,nbsvm", "--seeds", "0", "--quick", "--with", "keras", "--out", out,
        "--data-dir", data_dir, "--workers", "2",
    )  # fmt: skip
    assert code == 0, err + stdout
    table = read_csv(out / compare.COMPARISON_CSV)
    assert [(r["preset"], r["system"]) for r in table] == [
        ("notebook", "npnet"), ("notebook", "keras-jax"), ("nbsvm", "npnet"), ("nbsvm", "keras-jax"),
    ]  # fmt: skip
    for preset in ("notebook", "nbsvm"):
        npnet_row, keras_row = (r for r in table if r["preset"] == preset)
        # the same layers: the same number of parameters (nbsvm's frozen factors counted on both sides)
        assert keras_row["parameters"] == npnet_row["parameters"]
        (source,) = read_csv(out / "keras" / preset / sweep.RESULTS_CSV)
        for key in ("test_accuracy", "seconds", "epochs", "peak_rss_mb"):
            assert keras_row[key] == source[key]
        assert keras_row["epochs"] == str(compare.QUICK_EPOCHS)
    nbsvm_keras = next(r for r in table if r["preset"] == "nbsvm" and r["system"] == "keras-jax")
    assert float(nbsvm_keras["test_accuracy"]) > 0.6  # the twin learns the synthetic task too
    summary = (out / compare.COMPARISON_MD).read_text(encoding="utf-8")
    assert "| nbsvm | keras-jax | 1 |" in summary
