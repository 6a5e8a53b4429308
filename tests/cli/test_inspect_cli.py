"""`npnet train --inspect` writes the backprop files and the report section; `npnet inspect` redraws them on
finished and interrupted runs and refuses a run without statistics; `--tensorboard` writes events that
TensorBoard's own reader loads (skipped without the tensorboard extra locally, required in CI)."""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from npnet.reports import backprop_report
from npnet.reports.backprop_report import ACTIVATIONS_PNG, BACKPROP_CSV, GRADIENTS_PNG, UPDATES_PNG
from tests.training_helpers import SMALL, build_data, run_cli

PLOTS = (GRADIENTS_PNG, UPDATES_PNG, ACTIVATIONS_PNG)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("inspect"), n_per_class=30)


def _train(data_dir: Path, runs_dir: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(
        "train", *SMALL, "--epochs", "2", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "r",
        "--verbose", "0", *extra,
    )  # fmt: skip


def _titles(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """file name -> the title of the figure last saved under it (the suptitle, else the first axis's)."""
    titles: dict[str, str] = {}
    real_save = backprop_report._save_figure

    def spy(fig, path):
        titles[Path(path).name] = fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()
        real_save(fig, path)

    monkeypatch.setattr(backprop_report, "_save_figure", spy)
    return titles


@pytest.mark.slow
def test_train_inspect_writes_the_statistics_plots_and_section(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles = _titles(monkeypatch)
    code, _, err = _train(data_dir, tmp_path, "--inspect", "3")
    assert code == 0, err
    assert set(titles) == set(PLOTS) and all(t.endswith("\nrun r, preset notebook") for t in titles.values())
    titles.clear()
    run = tmp_path / "r"
    with open(run / BACKPROP_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    steps = sorted({int(r["step"]) for r in rows})
    assert steps == list(range(1, 8, 3))  # 60 reviews / 16 = 4 steps per epoch, 8 in all: 1, 4, 7
    keys = [(r["step"], r["layer"], r["parameter"], r["statistic"]) for r in rows]
    assert len(keys) == len(set(keys))  # tidy: one row per step x layer x parameter x statistic
    assert {"grad_norm", "update_ratio", "zero_grad_rows", "dead_fraction", "saturated_fraction"} <= {
        r["statistic"] for r in rows
    }
    for name in PLOTS:
        assert (run / name).read_bytes().startswith(b"\x89PNG")
    report = (run / "report.md").read_text(encoding="utf-8")
    section = report[report.index("## Backprop") : report.index("## Settings")]
    assert "Updates are ~" in section and f"![update/weight ratios]({UPDATES_PNG})" in section

    for name in PLOTS:
        (run / name).unlink()
    code, out, err = run_cli("inspect", run)
    assert code == 0, err
    assert "Findings:" in out and "Updates are ~" in out and "embedding/embeddings" in out
    assert all((run / name).exists() for name in PLOTS)
    assert (run / "report.md").read_text(encoding="utf-8").count("## Backprop") == 1
    assert set(titles) == set(PLOTS) and all(t.endswith("\nrun r, preset notebook") for t in titles.values())


@pytest.mark.slow
def test_inspect_redraws_an_interrupted_run(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = _train(data_dir, tmp_path, "--inspect", "1")
    assert code == 0, err
    run = tmp_path / "r"
    for name in ("report.md", "weights.npz", *PLOTS):  # what a run stopped mid-epoch lacks
        (run / name).unlink()
    with open(run / BACKPROP_CSV, "a", encoding="utf-8") as f:
        f.write("9,3,dense,ker")  # killed while appending
    code, out, err = run_cli("inspect", run)
    assert code == 0, err
    assert "the last 8" in out
    assert all((run / name).exists() for name in PLOTS) and not (run / "report.md").exists()


@pytest.mark.slow
def test_inspect_refuses_a_run_without_statistics(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = _train(data_dir, tmp_path)
    assert code == 0, err
    assert not (tmp_path / "r" / BACKPROP_CSV).exists()
    code, _, err = run_cli("inspect", tmp_path / "r")
    assert code == 1
    assert err.startswith("npnet inspect: error:") and "trained without --inspect" in err
    code, _, err = run_cli("inspect", tmp_path / "nothing")
    assert code == 1 and "no run folder" in err


def _needs_tensorboard() -> None:
    missing = [m for m in ("tensorboardX", "tensorboard") if importlib.util.find_spec(m) is None]
    if missing:
        message = f"the tensorboard extra is not installed ({', '.join(missing)} missing)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI installs it: .ci/run")
        pytest.skip(message)


@pytest.mark.slow
def test_tensorboard_events_load_with_tensorboards_reader(data_dir: Path, tmp_path: Path) -> None:
    _needs_tensorboard()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "tb"
    code, _, err = _train(data_dir, tmp_path, "--inspect", "2", "--tensorboard", logs)
    assert code == 0, err
    events = EventAccumulator(str(logs), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss", "val_accuracy", "grad_norm/dense/kernel", "dead_fraction/dense/output"} <= set(
        tags["scalars"]
    )
    assert {"weights/embedding/embeddings", "gradients/dense_1/kernel"} <= set(tags["histograms"])
    assert [e.step for e in events.Scalars("loss")] == [1, 2]
    assert [e.step for e in events.Scalars("grad_norm/dense/kernel")] == [1, 3, 5, 7]
    with open(tmp_path / "r" / "history.csv", newline="", encoding="utf-8") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert [e.value for e in events.Scalars("loss")] == pytest.approx(losses, rel=1e-6)  # stored as float32
    assert [e.step for e in events.Histograms("weights/dense/kernel")] == [1, 2]


def test_tensorboard_without_the_extra_is_refused_before_any_run_folder(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # `import tensorboardX` now raises ImportError
    code, _, err = _train(data_dir, tmp_path, "--tensorboard", tmp_path / "tb")
    assert code == 1
    assert err.startswith("npnet train: error:") and "pip install 'npnet[tensorboard]'" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "tb").exists()
