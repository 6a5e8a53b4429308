"""The benchmark harness's smoke run: it must keep working, so a tiny run is part of the tests.

It checks that the outputs exist and are well formed, never how fast anything is.
"""

import importlib.util
import json

import matplotlib.image
import numpy as np
import pytest

from benchmarks.run import main
from tests.datasets.test_imdb_load import save_imdb
from tests.training_helpers import build_data

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_KERAS_JAX = all(importlib.util.find_spec(m) is not None for m in ("keras", "jax"))


def _check_outputs(out, systems):
    results = json.loads((out / "results.json").read_text())
    for system in systems:
        epoch = results["epochs"][system]
        assert "skipped" not in epoch, epoch
        assert len(epoch["total_s"]) == results["rounds"] and all(t > 0 for t in epoch["total_s"])
        assert epoch["peak_rss_mb"] > 0
        if system != "npnet":
            assert results["ratios_to_npnet"][system]["median"] > 0
    assert results["bound"]["bound_s"] > 0 and results["bound"]["train_pairs"] > 0
    assert all(ms > 0 for ms in results["operations_ms"].values())
    assert any(row["default"] for row in results["split_sweep"])
    assert results["machine"]["numpy"] and results["machine"]["usable_cpus"] >= 1
    markdown = (out / "results.md").read_text()
    assert "| system | train s |" in markdown and "Unavoidable work" in markdown
    image = matplotlib.image.imread(out / "scaling.png")
    assert image.ndim == 3 and image.shape[0] > 100
    return results


def results_rounds(results):
    return (
        2
        if "--rounds" not in results["command"]
        else int(results["command"].split("--rounds ")[1].split()[0])
    )


@pytest.mark.slow
def test_quick_run_writes_well_formed_outputs(tmp_path):
    systems = ["npnet", "numpy-naive"] + (["torch-eager"] if HAVE_TORCH else [])
    assert main(["--quick", "--out", str(tmp_path), "--systems", ",".join(systems)]) == 0
    results = _check_outputs(tmp_path, systems)
    assert set(results["scaling"]) == {"samples", "length", "vocab", "batch"}
    for points in results["scaling"].values():
        assert len(points) >= 2 and all(p["epoch_s"] > 0 for p in points)


def test_missing_or_unknown_systems(tmp_path, capsys):
    assert main(["--quick", "--out", str(tmp_path), "--systems", "npnet,no-such-system"]) == 2
    assert "unknown systems ['no-such-system']" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_KERAS_JAX, reason="needs the bench extra (keras, jax)")
def test_quick_run_with_keras_jax(tmp_path):
    assert main(["--quick", "--no-scaling", "--out", str(tmp_path), "--systems", "npnet,keras-jax"]) == 0
    _check_outputs(tmp_path, ["npnet", "keras-jax"])


@pytest.mark.slow
def test_data_accepts_an_npnet_data_directory(tmp_path):
    rng = np.random.default_rng(0)
    reviews = [rng.integers(1, 500, rng.integers(5, 90)).tolist() for _ in range(120)]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    save_imdb(data_dir / "imdb.npz", reviews[:60], [i % 2 for i in range(60)], reviews[60:], [0, 1] * 30)
    out = tmp_path / "out"
    args = ["--quick", "--no-scaling", "--rounds", "1", "--systems", "npnet", "--data", str(data_dir)]
    assert main([*args, "--out", str(out)]) == 0
    results = _check_outputs(out, ["npnet"])
    workload = results["workload"]
    assert "npnet data dir" in workload and "60 train + 60 validation reviews, length 64" in workload
    assert "imdb_word_index.json" in results["train_rss"]["error"]  # npnet train needs it: not measured


@pytest.mark.slow
def test_data_dir_measures_the_peak_rss_of_npnet_train(tmp_path):
    data_dir = build_data(tmp_path)
    out = tmp_path / "out"
    args = ["--quick", "--no-scaling", "--rounds", "1", "--systems", "npnet", "--data", str(data_dir)]
    assert main([*args, "--rss-epochs", "2", "--out", str(out)]) == 0
    rss = _check_outputs(out, ["npnet"])["train_rss"]
    assert "error" not in rss, rss
    assert rss["exit_code"] == 0 and rss["command"].startswith("npnet train --data-dir")
    assert "--epochs 2" in rss["command"]
    assert rss["peak_rss_mb"] > 20  # the Python process with NumPy loaded is already bigger than this
    assert "Peak RSS (VmHWM) of `npnet train" in (out / "results.md").read_text()


@pytest.mark.slow
def test_rss_data_measures_npnet_train_beside_a_synthetic_race(tmp_path):
    data_dir = build_data(tmp_path)
    out = tmp_path / "out"
    args = ["--quick", "--no-scaling", "--rounds", "1", "--systems", "npnet", "--rss-data", str(data_dir)]
    assert main([*args, "--rss-epochs", "1", "--out", str(out)]) == 0
    results = _check_outputs(out, ["npnet"])
    assert "synthetic" in results["workload"]
    assert results["train_rss"]["exit_code"] == 0 and results["train_rss"]["peak_rss_mb"] > 20
    assert "--rss-data" in results["command"]


@pytest.mark.slow
def test_batch_sizes_race_every_system_at_each_size_and_report_the_targets(tmp_path):
    systems = ["npnet", "numpy-naive"]
    args = ["--quick", "--no-scaling", "--rounds", "1", "--systems", ",".join(systems)]
    assert main([*args, "--batch-sizes", "64,128", "--out", str(tmp_path)]) == 0
    results = _check_outputs(tmp_path, systems)
    curve = results["batch_curve"]
    assert list(curve) == ["64", "128"]
    for race in curve.values():
        for system in systems:
            assert (
                len(race["epochs"][system]["total_s"]) == 1 and race["epochs"][system]["median_total_s"] > 0
            )
        assert race["ratios_to_npnet"]["numpy-naive"]["npnet_over"] > 0
    assert curve["128"]["epochs"]["npnet"]["total_s"] == results["epochs"]["npnet"]["total_s"]  # base reused
    setup = results["setup"]["repeated_fit"]
    assert setup["calls"] == 3 and setup["median_repeat_setup_s"] > 0 and setup["median_epoch_s"] > 0
    assert results["setup"]["bag_hash"]["sha256_s"] > 0
    markdown = (tmp_path / "results.md").read_text()
    assert "against batch size" in markdown and "| 64 |" in markdown and "setup of a repeated fit" in markdown
    image = matplotlib.image.imread(tmp_path / "batch_sizes.png")
    assert image.ndim == 3 and image.shape[0] > 100
    assert "--batch-sizes 64,128" in results["command"]


@pytest.mark.parametrize("bad", ["0,32", "32,x", ","])
def test_bad_batch_sizes_are_a_usage_error(tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", "--batch-sizes", bad, "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "--batch-sizes" in capsys.readouterr().err
