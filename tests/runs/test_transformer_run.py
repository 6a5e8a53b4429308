"""`npnet train --preset transformer` end to end on the small synthetic IMDB: the run folder and its report
(with attention maps), resume (bitwise equal to an uninterrupted run), evaluate, predict (the softmax's
positive-class probability), `predict --attention`, and a sweep row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.saving import archive
from tests.training_helpers import build_data, run_cli

# The example's layers at toy sizes: 60 words, 8-wide embeddings, 16 steps.
TINY = ["--num-words", "60", "--maxlen", "16", "--embedding-dim", "8", "--batch-size", "16", "--verbose", "0"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"), n_per_class=30)


@pytest.fixture(scope="module")
def trained(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch transformer run."""
    runs_dir = tmp_path_factory.mktemp("runs")
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--preset", "transformer", *TINY,
        "--run-name", "straight", "--epochs", "2", "--lr", "0.01",
    )  # fmt: skip
    assert code == 0, err
    return runs_dir / "straight"


def _weights(run_dir: Path) -> list[np.ndarray]:
    arrays, _ = archive.load_arrays(run_dir / runs.WEIGHTS_NPZ, kind="weights")
    return [arrays[key] for key in sorted(arrays)]


def test_the_preset_is_the_keras_example() -> None:
    config = runs.preset_config("transformer")
    assert (config.num_words, config.maxlen, config.padding, config.truncating) == (20_000, 200, "pre", "pre")
    assert (config.embedding_dim, config.hidden_units, config.dropout) == (32, 20, 0.1)
    assert (config.learning_rate, config.decay, config.epsilon) == (1e-3, 0.0, 1e-7)
    assert (config.batch_size, config.epochs, config.validation_split) == (32, 2, 0.0)
    model = runs.build_model(config)
    model.build((None, 200))
    block = model.layers[1]
    assert (block.num_heads, block.ff_dim, block.rate, block.epsilon) == (2, 32, 0.1, 1e-6)
    assert model.output_shape == (None, 2)
    assert model.loss.name == "sparse_categorical_crossentropy"
    # TokenAndPositionEmbedding(200, 20000, 32) + the block + Dense(20) + Dense(2)
    block_params = 3 * (32 * 2 * 32 + 2 * 32) + (2 * 32 * 32 + 32) + 2 * (32 * 32 + 32) + 2 * 2 * 32
    assert block_params == 10_656  # Keras's summary of the example's block
    assert model.count_params() == (20_000 + 200) * 32 + block_params + 32 * 20 + 20 + 20 * 2 + 2


def test_mask_trains_the_masked_variant(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", tmp_path, "--preset", "transformer", *TINY,
        "--run-name", "masked", "--epochs", "1", "--mask",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((tmp_path / "masked" / "config.json").read_text())["config"]
    assert config["mask_zero"] is True
    model = runs.open_run(tmp_path / "masked").model()
    assert model.layers[0].mask_zero


@pytest.mark.slow
def test_resume_is_bitwise_the_uninterrupted_run(data_dir: Path, trained: Path, tmp_path: Path) -> None:
    common = [
        "--data-dir",
        data_dir,
        "--runs-dir",
        tmp_path,
        "--preset",
        "transformer",
        *TINY,
        "--lr",
        "0.01",
    ]
    code, _, err = run_cli("train", *common, "--run-name", "split", "--epochs", "1")
    assert code == 0, err
    code, _, err = run_cli("train", "--resume", tmp_path / "split", "--epochs", "2", "--verbose", "0")
    assert code == 0, err
    straight, split = _weights(trained), _weights(tmp_path / "split")
    assert len(straight) == len(split) == 22  # the tables, the block's 16, two Dense layers' 4
    assert all(np.array_equal(a, b) for a, b in zip(straight, split, strict=True))  # the same computation


@pytest.mark.slow
def test_report_shows_attention_maps_of_test_reviews(trained: Path) -> None:
    report = (trained / "report.md").read_text()
    assert "## Attention (test reviews)" in report
    maps = sorted(trained.glob("attention_test_*.png"))
    assert len(maps) == 3
    for path in maps:
        assert path.read_bytes().startswith(PNG)
        assert f"]({path.name})" in report
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["samples"] == 60 and sum(map(sum, metrics["confusion_matrix"])) == 60


@pytest.mark.slow
def test_evaluate_and_predict_read_the_softmax(trained: Path) -> None:
    code, out, err = run_cli("evaluate", "--run", trained)
    assert code == 0, err
    accuracy = json.loads((trained / "metrics.json").read_text())["accuracy"]
    assert f"Accuracy: {accuracy:.4f} (60 test reviews)" in out

    texts = ["great wonderful film", "awful boring terrible", "the plot"]
    code, out, err = run_cli("predict", "--run", trained, "--format", "json", *texts)
    assert code == 0, err
    rows = json.loads(out)
    run = runs.open_run(trained)
    softmax = run.model().predict(run.inputs([run.encode(t) for t in texts]))
    assert softmax.shape == (3, 2)
    np.testing.assert_allclose([r["probability"] for r in rows], softmax[:, 1], rtol=1e-6)
    assert [r["label"] for r in rows] == [("negative", "positive")[i] for i in softmax.argmax(axis=1)]


@pytest.mark.slow
def test_predict_attention_draws_one_map_per_scored_review(trained: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "maps"
    code, out, err = run_cli(
        "predict", "--run", trained, "--attention", out_dir, "great wonderful film", "...", "awful plot"
    )
    assert code == 1  # the empty review "..." is an error; the others are still scored and drawn
    assert "review 2" in err and "empty" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["attention_1.png", "attention_3.png"]
    assert all(p.read_bytes().startswith(PNG) for p in out_dir.iterdir())
    assert f"attention map: {out_dir / 'attention_1.png'}" in out
    code, out, err = run_cli("predict", "--run", trained, "--attention", out_dir, "--format", "json", "great")
    assert code == 0, err
    assert json.loads(out)[0]["review"] == 1 and "attention map:" in err  # stdout stays JSON


def test_attention_of_a_run_without_attention_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", tmp_path, *TINY, "--run-name", "plain", "--epochs", "1"
    )
    assert code == 0, err
    code, out, err = run_cli("predict", "--run", tmp_path / "plain", "--attention", tmp_path / "m", "great")
    assert code == 1 and out == ""
    assert "--attention" in err and "no attention layer" in err and "--preset transformer" in err
    assert "Traceback" not in err and not (tmp_path / "m").exists()
    assert not list((tmp_path / "plain").glob("attention_*.png"))  # and its report drew none


@pytest.mark.slow
def test_attention_into_a_file_is_a_clear_error(trained: Path, tmp_path: Path) -> None:
    target = tmp_path / "file.png"
    target.write_bytes(b"x")
    code, _, err = run_cli("predict", "--run", trained, "--attention", target, "great")
    assert code == 1 and "is a file" in err and str(target) in err


@pytest.mark.slow
def test_a_sweep_row_scores_the_softmax(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "sweep", "--preset", "transformer", "--seeds", "0", "--workers", "1", "--data-dir", data_dir,
        "--sweeps-dir", tmp_path, "--name", "s", "--set", "num_words=60", "--set", "maxlen=16",
        "--set", "embedding_dim=8", "--set", "batch_size=16", "--set", "epochs=1",
    )  # fmt: skip
    assert code == 0, err
    with open(tmp_path / "s" / "results.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    run_dir = tmp_path / "s" / "runs" / row["run"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert float(row["test_accuracy"]) == metrics["accuracy"]
    assert (run_dir / "report.md").read_text().count("![attention](attention_test_") == 3  # as npnet train's
    # the test set validates: fit's own sparse categorical accuracy is the same number
    assert float(row["final_val_accuracy"]) == pytest.approx(metrics["accuracy"], abs=1e-12)
