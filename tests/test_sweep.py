"""npnet sweep: the grid and seed parsing; a 2 settings x 2 seeds sweep on tiny data gives the same rows
through the local process pool and a Dask LocalCluster; kill -9 of a sweep, then a rerun, completes it without
redoing finished runs and with the same numbers; summaries and selection on validation."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from npnet import sweep
from npnet.errors import RunError
from tests.training_helpers import build_data, run_cli

REPO = Path(__file__).resolve().parents[1]
# Learns the synthetic reviews in a few epochs (tests/training_helpers.SMALL), held-out validation split.
FIXED = {
    "num_words": 60,
    "maxlen": 32,
    "decay": 0.001,
    "batch_size": 16,
    "epochs": 3,
    "validation_split": 0.25,
}
SET_ARGS = [a for key, value in FIXED.items() for a in ("--set", f"{key}={value}")]


def _plan(data_dir: Path) -> sweep.Plan:
    grid = {"learning_rate": [0.01, 0.003], **{key: [value] for key, value in FIXED.items()}}
    return sweep.Plan(
        preset="notebook", grid=grid, seeds=[0, 1], data_dir=str(data_dir), select_on="validation"
    )


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    """results.csv without its measured columns (seconds, peak RSS)."""
    with open(sweep_dir / sweep.RESULTS_CSV, newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k not in sweep.MEASURED} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("sweep"), n_per_class=30).resolve()


@pytest.fixture(scope="module")
def local_sweep(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    sweep_dir = tmp_path_factory.mktemp("local") / "s"
    rows, failures = sweep.sweep(sweep_dir, _plan(data_dir), workers=2)
    assert failures == [] and len(rows) == 4
    return sweep_dir


@pytest.fixture
def time_limit() -> Iterator[None]:
    """Fail instead of hanging: a sweep on tiny data takes well under this."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("the sweep took over 300 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_parse_seeds_and_settings() -> None:
    assert sweep.parse_seeds("0-3") == [0, 1, 2, 3]
    assert sweep.parse_seeds("2-3,7") == [2, 3, 7]
    for bad in ("", "a", "3-1", "1,1"):
        with pytest.raises(RunError, match="--seeds"):
            sweep.parse_seeds(bad)
    assert sweep.parse_set("lr=1e-3,3e-4") == ("learning_rate", [1e-3, 3e-4])
    assert sweep.parse_set("mask-zero=true,false") == ("mask_zero", [True, False])
    assert sweep.parse_set("maxlen=256") == ("maxlen", [256])
    with pytest.raises(RunError, match="not a setting"):
        sweep.parse_set("colour=red")
    with pytest.raises(RunError, match="--seeds"):
        sweep.parse_set("seed=1,2")
    with pytest.raises(RunError, match="not a valid int"):
        sweep.parse_set("maxlen=long")


@pytest.mark.slow
def test_local_sweep_writes_run_folders_results_summary_and_plot(local_sweep: Path) -> None:
    rows = _rows(local_sweep)
    assert [(r["learning_rate"], r["seed"]) for r in rows] == [
        ("0.003", "0"), ("0.003", "1"), ("0.01", "0"), ("0.01", "1"),
    ]  # fmt: skip
    for row in rows:
        run = local_sweep / sweep.RUNS / row["run"]
        assert {"config.json", "weights.npz", "checkpoint.npz", "report.md"} <= {
            p.name for p in run.iterdir()
        }
        assert float(row["best_val_accuracy"]) >= float(row["final_val_accuracy"])
        assert row["epochs"] == "3"
    code, _, err = run_cli("evaluate", "--run", local_sweep / sweep.RUNS / rows[0]["run"])
    assert code == 0, err
    summary = (local_sweep / sweep.SUMMARY_MD).read_text(encoding="utf-8")
    assert "| learning_rate=0.01 | 2 |" in summary and "## Selected on validation" in summary
    assert (local_sweep / sweep.SWEEP_PNG).read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(
    local_sweep: Path, data_dir: Path, tmp_path: Path, time_limit
) -> None:
    if importlib.util.find_spec("distributed") is None:
        if os.environ.get("CI"):
            pytest.fail("the dask extra is not installed (dask.distributed missing); CI installs it: .ci/run")
        pytest.skip("the dask extra is not installed (dask.distributed missing)")
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        rows, failures = sweep.sweep(tmp_path / "s", _plan(data_dir), scheduler=client)
    assert failures == [] and len(rows) == 4
    assert _rows(tmp_path / "s") == _rows(local_sweep)


@pytest.mark.slow
def test_kill_9_then_rerun_completes_without_redoing_finished_runs(
    local_sweep: Path, data_dir: Path, tmp_path: Path, time_limit
) -> None:
    command = [
        "sweep", "--preset", "notebook", "--seeds", "0-1", "--set", "lr=0.01,0.003", *SET_ARGS,
        "--select-on", "validation", "--data-dir", str(data_dir), "--sweeps-dir", str(tmp_path),
        "--name", "s", "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "npnet", *command], env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    runs_dir = tmp_path / "s" / sweep.RUNS
    try:
        while not list(runs_dir.glob(f"*/{sweep.ROW_JSON}")):
            assert process.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the sweep and its worker, mid-run
        process.wait()
    finished = {
        p.parent.name: p.parent.joinpath("weights.npz").stat().st_mtime_ns
        for p in runs_dir.glob("*/" + sweep.ROW_JSON)
    }
    assert 1 <= len(finished) < 4

    code, _, err = run_cli(*command)
    assert code == 0, err
    for name, mtime in finished.items():
        assert (runs_dir / name / "weights.npz").stat().st_mtime_ns == mtime  # not trained again
    assert _rows(tmp_path / "s") == _rows(local_sweep)


@pytest.mark.slow
def test_a_rerun_with_other_seeds_grows_the_sweep_and_keeps_its_finished_runs(
    local_sweep: Path, data_dir: Path, tmp_path: Path, time_limit
) -> None:
    sweep_dir = tmp_path / "s"
    rows, failures = sweep.sweep(sweep_dir, dataclasses.replace(_plan(data_dir), seeds=[1]), workers=2)
    assert failures == [] and len(rows) == 2

    def trained() -> dict[str, int]:
        return {p.parent.name: p.stat().st_mtime_ns for p in (sweep_dir / sweep.RUNS).glob("*/weights.npz")}

    first = trained()

    def rerun(seeds: str) -> str:
        code, out, err = run_cli(
            "sweep", "--preset", "notebook", "--seeds", seeds, "--set", "lr=0.01,0.003", *SET_ARGS,
            "--select-on", "validation", "--data-dir", data_dir, "--sweeps-dir", tmp_path, "--name", "s",
            "--workers", "2",
        )  # fmt: skip
        assert code == 0, err
        return out

    out = rerun("0")
    assert (
        "2 setting(s) x 2 seeds = 4 runs" in out and "also has seeds [1]: this run covers seeds [0, 1]" in out
    )
    grown = trained()
    assert len(grown) == 4 and {name: grown[name] for name in first} == first  # seed 1 not trained again
    assert json.loads((sweep_dir / sweep.SWEEP_JSON).read_text(encoding="utf-8"))["seeds"] == [0, 1]
    assert _rows(sweep_dir) == _rows(local_sweep)  # the same four runs as the sweep of seeds 0-1 at once

    rerun("1")  # fewer seeds than the folder has: nothing to train, every seed still reported
    assert trained() == grown and _rows(sweep_dir) == _rows(local_sweep)


def test_a_rerun_with_another_plan_and_selection_without_a_split_are_refused(
    data_dir: Path, tmp_path: Path
) -> None:
    plan = _plan(data_dir)
    sweep.open_sweep(tmp_path / "s", plan)
    other = sweep.Plan(preset="notebook", grid={"maxlen": [16, 32]}, seeds=[0], data_dir=str(data_dir))
    with pytest.raises(RunError, match="another sweep"):
        sweep.open_sweep(tmp_path / "s", other)
    code, _, err = run_cli(
        "sweep", "--set", "maxlen=16,32", "--select-on", "validation", "--data-dir", data_dir,
        "--sweeps-dir", tmp_path, "--name", "t",
    )  # fmt: skip
    assert code == 1 and "validation_split" in err and not (tmp_path / "t").exists()


@pytest.mark.slow
def test_a_run_whose_worker_dies_loses_only_that_run(data_dir: Path, tmp_path: Path) -> None:
    plan = _plan(data_dir)
    good, bad = plan.specs(tmp_path)[:2]
    bad = {**bad, "settings": {**bad["settings"], "maxlen": 0}}  # its worker process exits with an error
    seen: list[object] = []
    results = sweep.run_local([bad, good], workers=1, on_done=seen.append)
    assert isinstance(results[0], str) and Path(bad["run_dir"]).name in results[0]
    assert isinstance(results[1], dict) and results[1]["run"] == Path(good["run_dir"]).name
    assert len(seen) == 2
