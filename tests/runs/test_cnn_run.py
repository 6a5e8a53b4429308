"""`npnet train --preset cnn` end to end on the small synthetic IMDB (the cnn preset, small sizes): the run
folder, report and plots, `evaluate`, `predict`, and `--resume` continuing the dropout noise bitwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.errors import RunError
from npnet.saving import archive
from tests.training_helpers import build_data, run_cli

SMALL_CNN = [
    "--preset",
    "cnn",
    "--num-words",
    "60",
    "--maxlen",
    "32",
    "--embedding-dim",
    "8",
    "--filters",
    "6",
]
SMALL_CNN += ["--hidden-units", "8", "--batch-size", "16", "--lr", "0.01", "--seed", "2", "--verbose", "0"]
EPOCHS = 4


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def trained(data_dir: Path, runs_dir: Path) -> Path:
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "cnn", "--epochs", EPOCHS,
        *SMALL_CNN,
    )  # fmt: skip
    assert code == 0, err
    return runs_dir / "cnn"


def weights_of(run_dir: Path) -> dict[str, np.ndarray]:
    return archive.load_arrays(run_dir / runs.WEIGHTS_NPZ, kind="weights")[0]


@pytest.mark.slow
def test_the_cnn_run_has_its_settings_report_and_plots(trained: Path) -> None:
    config = runs.open_run(trained).config
    assert (config.architecture, config.preset, config.padding, config.dropout) == (
        "imdb_cnn",
        "cnn",
        "pre",
        0.2,
    )
    assert (config.filters, config.kernel_size, config.decay) == (6, 3, 0.0)
    for name in ("report.md", "loss.png", "accuracy.png", "confusion.png", "history.csv", "checkpoint.npz"):
        assert (trained / name).stat().st_size > 0, name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8  # the synthetic classes are easy once the conv sees the mood words
    assert len((trained / "history.csv").read_text().splitlines()) == EPOCHS + 1
    assert weights_of(trained)  # the saved weights load back


def test_evaluate_and_predict_work_on_cnn_runs(trained: Path) -> None:
    code, out, err = run_cli("evaluate", "--run", trained)
    assert code == 0, err
    code, out, err = run_cli(
        "predict", "--run", trained, "--format", "json", "a wonderful superb film", "awful dull"
    )
    assert code == 0, err
    positive, negative = json.loads(out)
    assert positive["probability"] > 0.5 > negative["probability"]


@pytest.mark.slow
def test_resuming_a_cnn_run_continues_the_dropout_noise_bitwise(
    trained: Path, data_dir: Path, runs_dir: Path
):
    """EPOCHS - 1 epochs, then `--resume --epochs EPOCHS`: the same final weights as one uninterrupted run,
    which needs the checkpointed fit_rng to carry the dropout masks as well as the shuffle."""
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "short",
        "--epochs", EPOCHS - 1, *SMALL_CNN,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli("train", "--resume", runs_dir / "short", "--epochs", EPOCHS, "--verbose", "0")
    assert code == 0, err
    resumed, straight = weights_of(runs_dir / "short"), weights_of(trained)
    assert resumed.keys() == straight.keys()
    for key in straight:
        assert resumed[key].tobytes() == straight[key].tobytes(), key


def test_cnn_settings_are_validated() -> None:
    with pytest.raises(RunError, match=r"dropout must be in \[0, 1\)"):
        runs.preset_config("cnn", dropout=1.0)
    with pytest.raises(RunError, match="kernel_size must be a positive integer"):
        runs.preset_config("cnn", kernel_size=0)
