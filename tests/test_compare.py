"""npnet compare: 2 presets x 2 seeds (quick mode) on the synthetic IMDB; the comparison's numbers are the
sweeps' they came from; a rerun with another seed grows it without retraining a finished run; --help, and
the refusals (an unknown preset: exit 2 naming the valid ones; --with keras without Keras; another mode in
the same folder)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from npnet import compare, runs, sweep
from tests.training_helpers import build_data, run_cli

PRESETS = ["notebook", "nbsvm"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("compare"), n_per_class=30).resolve()


@pytest.fixture(scope="module")
def out_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "c"
    plan = compare.Comparison(presets=PRESETS, seeds=[0, 1], data_dir=str(data_dir), quick=True)
    rows, failures = compare.compare(out, plan, workers=2)
    assert failures == [] and len(rows) == 4
    return out


@pytest.mark.slow
def test_the_comparison_holds_the_sweeps_numbers(out_dir: Path) -> None:
    table = read_csv(out_dir / compare.COMPARISON_CSV)
    assert [(r["preset"], r["seed"], r["system"]) for r in table] == [
        (preset, seed, "npnet") for preset in PRESETS for seed in ("0", "1")
    ]
    summary = (out_dir / compare.COMPARISON_MD).read_text(encoding="utf-8")
    assert "**Quick mode**" in summary
    for preset in PRESETS:
        swept = {r["seed"]: r for r in read_csv(out_dir / compare.SWEEPS / preset / sweep.RESULTS_CSV)}
        mine = [r for r in table if r["preset"] == preset]
        assert sorted(swept) == [r["seed"] for r in mine]
        for row in mine:
            source = swept[row["seed"]]
            for key in ("epochs", "test_accuracy", "test_loss", "seconds", "parameters", "peak_rss_mb"):
                assert row[key] == source[key], (preset, key)
            assert float(row["seconds_per_epoch"]) == float(source["seconds"]) / int(source["epochs"])
            assert row["epochs"] == str(compare.QUICK_EPOCHS)  # both presets train longer in full
            model = runs.open_run(out_dir / row["run"]).model()
            assert int(row["parameters"]) == model.count_params()
            assert float(row["peak_rss_mb"]) > 30  # a Python process holding NumPy, at least
        accuracy = np.median([float(swept[s]["test_accuracy"]) for s in swept])
        seconds = np.median([float(r["seconds_per_epoch"]) for r in mine])
        rss = np.median([float(r["peak_rss_mb"]) for r in mine])
        line = next(line for line in summary.splitlines() if line.startswith(f"| {preset} | npnet |"))
        assert f"| {accuracy:.4f} [" in line and f"| {seconds:.3g} |" in line and f"| {rss:.0f} |" in line
    assert (out_dir / compare.COMPARISON_PNG).read_bytes().startswith(b"\x89PNG")
    # quick mode read its own subset of the data, and said so in the plan
    assert json.loads((out_dir / compare.COMPARE_JSON).read_text())["quick"] is True
    assert (out_dir / compare.QUICK_DATA / "imdb.npz").exists()


@pytest.mark.slow
def test_a_rerun_with_another_seed_grows_it_without_retraining(out_dir: Path, data_dir: Path) -> None:
    finished = sorted(out_dir.glob(f"{compare.SWEEPS}/*/{sweep.RUNS}/*/{sweep.ROW_JSON}"))
    assert len(finished) == 4
    stamps = {path: path.stat().st_mtime_ns for path in finished}
    weights = {p.parent: (p.parent / runs.WEIGHTS_NPZ).stat().st_mtime_ns for p in finished}
    code, out, err = run_cli(
        "compare", "--presets", "nbsvm", "--seeds", "2", "--quick", "--out", out_dir, "--data-dir", data_dir,
        "--workers", "2",
    )  # fmt: skip
    assert code == 0, err
    assert "also has other presets, seeds or systems" in out and "QUICK mode" in out
    assert {path: path.stat().st_mtime_ns for path in finished} == stamps  # no finished run trained again
    assert {p.parent: (p.parent / runs.WEIGHTS_NPZ).stat().st_mtime_ns for p in finished} == weights
    table = read_csv(out_dir / compare.COMPARISON_CSV)
    assert sorted((r["preset"], r["seed"]) for r in table) == sorted(
        (preset, str(seed)) for preset in PRESETS for seed in (0, 1, 2)
    )
    assert json.loads((out_dir / compare.COMPARE_JSON).read_text())["seeds"] == [0, 1, 2]


def test_help_names_the_outputs_and_the_options() -> None:
    code, out, _ = run_cli("compare", "--help")
    assert code == 0
    for text in (
        "--presets",
        "--seeds",
        "--quick",
        "--with",
        "--scheduler",
        "comparison.png",
        "comparison.md",
    ):
        assert text in out


def test_an_unknown_preset_exits_2_naming_the_valid_ones() -> None:
    code, _, err = run_cli("compare", "--presets", "notebook,fastest")
    assert code == 2
    assert "unknown preset 'fastest'" in err and ", ".join(runs.PRESETS) in err and "Traceback" not in err


def test_with_keras_without_keras_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = compare.importlib.util.find_spec
    monkeypatch.setattr(
        compare.importlib.util, "find_spec", lambda name: None if name == "keras" else real(name)
    )
    code, _, err = run_cli("compare", "--with", "keras", "--out", tmp_path / "c", "--data-dir", tmp_path)
    assert code == 1 and "keras is not installed" in err and "pip install" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()


def test_a_folder_of_another_mode_is_refused(tmp_path: Path) -> None:
    quick = compare.Comparison(presets=["notebook"], seeds=[0], data_dir="/data", quick=True)
    tmp_path.joinpath(compare.COMPARE_JSON).write_text(json.dumps(quick.to_dict()))
    grown = compare.effective_comparison(tmp_path, compare.Comparison(["cnn"], [3], "/data", quick=True))
    assert (grown.presets, grown.seeds) == (["notebook", "cnn"], [0, 3])  # PRESETS order
    with pytest.raises(runs.RunError, match="holds a quick comparison"):
        compare.effective_comparison(tmp_path, compare.Comparison(["notebook"], [0], "/data", quick=False))
