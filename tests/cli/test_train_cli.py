"""`npnet train` and `npnet evaluate` end to end on a small synthetic IMDB: run folder, printout, errors."""

from __future__ import annotations

import csv
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.datasets import bootstrap, fetch, imdb
from npnet.datasets.tokenizer import text_to_word_sequence
from tests.training_helpers import SMALL, build_data, run_cli

EPOCHS = 3
RUN_FILES = {
    "config.json",
    "word_index.json",
    "checkpoint.npz",
    "weights.npz",
    "history.csv",
    "loss.png",
    "accuracy.png",
    "confusion.png",
    "learning_rate.png",
    "metrics.json",
    "report.md",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished run of EPOCHS epochs and what `npnet train` printed."""
    runs_dir = tmp_path_factory.mktemp("runs")
    code, out, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "small", "--epochs", EPOCHS,
        "--verbose", "2", *SMALL,
    )  # fmt: skip
    assert code == 0, err
    return runs_dir / "small", out


@pytest.mark.slow
def test_run_folder_holds_every_file(trained: tuple[Path, str]) -> None:
    run_dir, _ = trained
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES


def test_config_records_the_settings_and_the_id_layout(trained: tuple[Path, str], data_dir: Path) -> None:
    saved = json.loads((trained[0] / "config.json").read_text())
    config = saved["config"]
    assert (config["num_words"], config["maxlen"], config["learning_rate"], config["epochs"]) == (
        60,
        32,
        0.01,
        3,
    )
    assert (config["padding"], config["truncating"], config["preset"]) == ("post", "pre", "notebook")
    assert saved["ids"] == {"pad": 0, "start_char": 1, "oov_char": 2, "index_from": 3}
    assert saved["data_dir"] == str(data_dir.resolve())
    # the run keeps the part of the word index the model can use: ids = rank + 3 < num_words
    kept = json.loads((trained[0] / "word_index.json").read_text())
    full = imdb.get_word_index(data_dir / imdb.WORD_INDEX_NAME)
    assert kept == {w: r for w, r in full.items() if r + 3 < 60}


def test_history_csv_has_one_row_per_epoch(trained: tuple[Path, str]) -> None:
    with open(trained[0] / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == EPOCHS
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # Keras 2 decay: after epoch e the next step's rate is lr / (1 + decay * iterations), 8 steps per epoch
    lrs = [float(r["lr"]) for r in rows]
    np.testing.assert_allclose(lrs, [0.01 / (1 + 0.001 * 8 * e) for e in (1, 2, 3)])
    assert all(float(r["seconds"]) > 0 for r in rows)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])


def test_metrics_agree_with_the_saved_weights(trained: tuple[Path, str], data_dir: Path) -> None:
    run_dir, _ = trained
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run = runs.open_run(run_dir)
    data = runs.load_imdb(run.config, data_dir)
    model = run.model()
    probabilities = model.predict(data.x_test, batch_size=512).ravel()
    predicted = (probabilities > 0.5).astype(int)
    matrix = [[int(np.sum((data.test_labels == t) & (predicted == p))) for p in (0, 1)] for t in (0, 1)]
    assert metrics["confusion_matrix"] == matrix
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == data.test_labels))
    assert metrics["accuracy"] > 0.8  # the synthetic reviews are easy
    loss, _ = model.evaluate(data.x_test, data.test_labels, batch_size=512)
    assert metrics["loss"] == pytest.approx(loss, rel=1e-6)
    assert set(metrics["per_class"]) == {"negative", "positive"}


def test_printout_has_what_the_notebook_printed(trained: tuple[Path, str]) -> None:
    _, out = trained
    for needle in (
        "Training entries: 120, labels: 120",
        "After padding: x_train (120, 32), x_test (120, 32)",
        "Total params: 1,249",  # 60*16 + 16*16+16 + 16+1
        "Epoch 3/3",
        "labels:",
        "predictions:",
        "Predicted",
        "precision",
        "Accuracy:",
    ):
        assert needle in out, needle
    assert "For a model that works" not in out  # this one learned (tests/cli/test_stall.py)


def test_first_reviews_are_decoded_to_their_real_words(trained: tuple[Path, str], data_dir: Path) -> None:
    """The notebook decoded with an index off by 3; the printed reviews must be the words of real reviews."""
    _, out = trained
    sources = {
        tuple(text_to_word_sequence(p.read_text()))
        for p in (data_dir.parent / "source").rglob("*.txt")
        if "/train/" in p.as_posix()
    }
    decoded = [line.split() for line in out.splitlines() if line.startswith("<START> ")]
    assert len(decoded) == 2
    for words in decoded:
        assert tuple(words[1:]) in sources


def test_evaluate_prints_the_same_accuracy(trained: tuple[Path, str]) -> None:
    run_dir, _ = trained
    code, out, err = run_cli("evaluate", "--run", run_dir)
    assert code == 0, err
    accuracy = json.loads((run_dir / "metrics.json").read_text())["accuracy"]
    assert f"Accuracy: {accuracy:.4f} (120 test reviews)" in out
    assert "Predicted" in out and "precision" in out


@pytest.mark.slow
def test_preset_values_can_be_overridden_by_flags(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train", "--preset", "tuned", "--data-dir", data_dir, "--runs-dir", tmp_path, "--run-name", "t",
        "--epochs", "1", "--num-words", "60", "--maxlen", "16", "--verbose", "0",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "t" / "config.json").read_text())["config"]
    tuned = runs.preset_config("tuned")
    assert config["preset"] == "tuned"
    assert (config["epochs"], config["maxlen"]) == (1, 16)  # flags
    assert (config["learning_rate"], config["decay"]) == (tuned.learning_rate, tuned.decay)  # preset


@pytest.mark.slow
def test_validation_split_holds_out_the_end_of_train(data_dir: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", tmp_path, "--run-name", "v", "--epochs", "1",
        "--validation-split", "0.25", "--verbose", "2", *SMALL,
    )  # fmt: skip
    assert code == 0, err
    assert "Validation: the last 30 training reviews (training on 90)" in out
    assert "Test accuracy" in (tmp_path / "v" / "report.md").read_text()


@pytest.mark.parametrize(
    "flags",
    [
        ["--epochs", "0"],
        ["--epochs", "two"],
        ["--batch-size", "-5"],
        ["--lr", "-0.1"],
        ["--decay", "-1"],
        ["--padding", "middle"],
        ["--validation-split", "1"],
        ["--preset", "fastest"],
        ["--dtype", "float16"],
        ["--no-such-flag"],
    ],
)
def test_bad_flags_exit_2_with_a_usage_message(flags: list[str], tmp_path: Path) -> None:
    code, _, err = run_cli("train", "--runs-dir", tmp_path, *flags)
    assert code == 2
    assert "usage: npnet" in err
    assert flags[0] in err
    assert not list(tmp_path.iterdir())


def test_missing_data_is_fetched_and_offline_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No data and no network: the download is tried (here from a closed port on 127.0.0.1, so the test
    never leaves the machine), and the error says how to build the data offline."""
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    monkeypatch.setattr(imdb, "KERAS_ORIGINS", (closed, closed))
    monkeypatch.setattr(bootstrap, "STANFORD_URL", f"{closed}aclImdb_v1.tar.gz")
    monkeypatch.setattr(bootstrap, "CHECKOUT_TARBALL", tmp_path / "no-shared.tar.gz")  # not this machine
    monkeypatch.setattr(fetch.time, "sleep", lambda seconds: None)  # no backoff waits
    code, _, err = run_cli("train", "--data-dir", tmp_path / "nothing", "--runs-dir", tmp_path / "runs")
    assert code == 1
    assert f"could not download imdb.npz: {closed}imdb.npz" in err
    assert "npnet train --from aclImdb_v1.tar.gz" in err
    assert not (tmp_path / "runs").exists()  # a failed start leaves no run folder


def test_used_run_name_is_refused(trained: tuple[Path, str], data_dir: Path) -> None:
    run_dir, _ = trained
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", run_dir.parent, "--run-name", "small"
    )
    assert code == 1
    assert f"--resume {run_dir}" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lr", "0.5"], "drop --learning-rate"),
        (["--run-name", "x"], "drop --run-name"),
        (["--preset", "cnn"], "drop --preset"),  # was silently ignored
        (["--runs-dir", "elsewhere"], "drop --runs-dir"),
        ([], "has finished all 3 epochs"),
        (["--epochs", "2"], "--epochs 2 is fewer than the 3 epochs"),
    ],
)
def test_resume_errors(trained: tuple[Path, str], flags: list[str], message: str) -> None:
    code, _, err = run_cli("train", "--resume", trained[0], *flags)
    assert code == 1
    assert message in err


def test_resume_of_a_folder_that_is_no_run(tmp_path: Path) -> None:
    code, _, err = run_cli("train", "--resume", tmp_path / "nope")
    assert code == 1
    assert "no run folder at" in err


def test_evaluate_errors(tmp_path: Path) -> None:
    assert run_cli("evaluate")[0] == 2  # --run is required
    code, _, err = run_cli("evaluate", "--run", tmp_path)
    assert code == 1 and "config.json is missing" in err


def test_without_reviews_keeps_what_training_uses(data_dir: Path) -> None:
    data = runs.load_imdb(runs.preset_config("notebook", maxlen=40), data_dir)
    lean = data.without_reviews()
    assert len(lean.train_seqs) == len(lean.test_seqs) == 0 and lean.train_seqs.values.size == 0
    assert len(data.train_seqs) > 0  # the original is left as it was
    for name in ("x_train", "x_test", "train_labels", "test_labels"):
        assert getattr(lean, name) is getattr(data, name)


def test_confusion_matrix_printout_has_the_notebooks_labels(trained: tuple[Path, str]) -> None:
    _, out = trained
    matrix = out[out.index("Confusion matrix") :]
    assert "Predicted" in matrix.splitlines()[1] and "Actual" in matrix.splitlines()[2]


def test_preset_help_lists_every_preset_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping: a name like cnn-lstm stays whole on the line
    monkeypatch.setitem(runs.PRESETS, "later", {"epochs": 3})  # a preset added after this test was written
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    line = next(line for line in out.splitlines() if "starting settings" in line)
    for name in runs.PRESETS:
        assert f" {name} (" in line, name
    assert "later (notebook model, 3 epochs)" in line
