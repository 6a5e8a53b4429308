"""`npnet train --preset nbsvm` end to end on the small synthetic IMDB: the run folder keeps the n-gram table
and the log-count ratio of the training reviews, the model reads binarized bags, and predict (raw text),
evaluate and resume give reviews the same features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.datasets.ragged import Ragged
from npnet.preprocessing.nbsvm import binary_bags, load_ratio, log_count_ratio
from npnet.preprocessing.ngrams import NgramTable
from tests.training_helpers import NEGATIVE, POSITIVE, build_data, run_cli

# The preset's own optimizer settings (Adam 1e-2, batch 32) on the synthetic reviews' ~30 words; bags of
# words + bigrams stay under 100 ids, so maxlen 128 truncates none.
NB = ["--preset", "nbsvm", "--num-words", "60", "--maxlen", "128", "--verbose", "2"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def run_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    code, out, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "nb", "--epochs", "6", *NB
    )
    assert code == 0, err
    assert "NBSVM features: binarized bags of" in out
    return runs_dir / "nb"


def _fitted_by_hand(config: runs.TrainConfig, data_dir: Path, n_fit: int) -> tuple[NgramTable, np.ndarray]:
    """The bigram table and ratio of the first `n_fit` training reviews, built here from the preprocessing
    functions, not through npnet.runs."""
    from npnet.datasets import imdb

    (train, labels), _ = imdb.load_ragged(data_dir / "imdb.npz", num_words=config.num_words)
    kept = train.take(np.arange(n_fit))
    table = NgramTable.build(kept, 2, base=config.num_words)
    ratio = log_count_ratio(binary_bags(kept, table, 2), labels[:n_fit], table.input_dim)
    return table, ratio


def test_the_run_holds_the_table_and_ratio_of_the_training_reviews(run_dir: Path, data_dir: Path) -> None:
    run = runs.open_run(run_dir)
    assert run.config.architecture == "nbsvm" and run.config.ngrams == 2
    table, ratio = _fitted_by_hand(run.config, data_dir, 120)
    np.testing.assert_array_equal(load_ratio(run_dir / runs.RATIO_NPZ), ratio)
    np.testing.assert_array_equal(run.ngrams.codes[0], table.codes[0])
    model = run.model()
    assert model.layers[0].input_dim == table.input_dim == ratio.size
    # the trained model kept the ratio as its fixed scales
    np.testing.assert_allclose(model.layers[0].params["scales"], ratio, rtol=1e-6)
    # the model's input is each review's bag: distinct word and bigram ids, ascending, post-padded
    data = runs.load_imdb(run.config, data_dir, ngrams=run.ngrams, ratio=run.ratio)
    bags = binary_bags(data.train_seqs.take(np.arange(3)), table, 2).to_lists()
    for row, bag in zip(data.x_train[:3], bags, strict=True):
        assert row[: len(bag)].tolist() == bag and not row[len(bag) :].any()


def test_the_ratio_counts_only_the_reviews_that_train(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", tmp_path, "--run-name", "v", "--epochs", "1",
        "--validation-split", "0.25", *NB,
    )  # fmt: skip
    assert code == 0, err
    run = runs.open_run(tmp_path / "v")
    table, ratio = _fitted_by_hand(run.config, data_dir, 90)  # 120 - 30 held out
    assert len(run.ngrams) == len(table)
    np.testing.assert_array_equal(run.ratio, ratio)
    _, everything = _fitted_by_hand(run.config, data_dir, 120)
    assert not np.array_equal(run.ratio[: everything.size], everything[: run.ratio.size])


def test_predict_scores_raw_text_through_the_runs_bags(run_dir: Path) -> None:
    run = runs.open_run(run_dir)
    text = " ".join(POSITIVE * 2)
    code, out, err = run_cli("predict", "--run", run_dir, "--format", "json", text, " ".join(NEGATIVE))
    assert code == 0, err
    ids = run.encode(text)
    bag = binary_bags(Ragged.from_lists([ids]), run.ngrams, 2).to_lists()[0]
    assert len(bag) > len(set(ids))  # the review's known bigrams are features too
    x = np.zeros((1, 128), dtype=np.int32)
    x[0, : len(bag)] = bag
    np.testing.assert_array_equal(run.inputs([ids]), x)
    scored = json.loads(out)
    assert scored[0]["probability"] == run.model().predict(x).item()
    assert [s["label"] for s in scored] == ["positive", "negative"]


def test_evaluate_reads_the_run_with_its_features(run_dir: Path) -> None:
    code, out, err = run_cli("evaluate", "--run", run_dir)
    assert code == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in out
    assert metrics["accuracy"] > 0.8


def test_resume_continues_bitwise(data_dir: Path, tmp_path: Path) -> None:
    args = ["--data-dir", data_dir, "--runs-dir", tmp_path, *NB]
    assert run_cli("train", *args, "--run-name", "straight", "--epochs", "3")[0] == 0
    assert run_cli("train", *args, "--run-name", "split", "--epochs", "2")[0] == 0
    code, _, err = run_cli("train", "--resume", tmp_path / "split", "--epochs", "3", "--verbose", "0")
    assert code == 0, err
    a = runs.open_run(tmp_path / "straight").model().get_weights()
    b = runs.open_run(tmp_path / "split").model().get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_missing_or_corrupt_ratio_is_a_clear_error(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "word_index.json", "weights.npz", "ngrams.npz"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    code, _, err = run_cli("predict", "--run", broken, "a great film")
    assert code == 1 and "log-count ratio" in err and "ratio.npz" in err and "Traceback" not in err
    (broken / runs.RATIO_NPZ).write_bytes(b"not a zip file")
    code, _, err = run_cli("evaluate", "--run", broken)
    assert code == 1 and "ratio.npz" in err and "Traceback" not in err


def test_the_preset_has_the_settings_measured_on_validation() -> None:
    config = runs.preset_config("nbsvm")  # docs/derivations/nbsvm.md, "Which form, and why"
    assert (config.learning_rate, config.decay, config.batch_size, config.epochs) == (1e-2, 0.0, 32, 4)
    assert (config.ngrams, config.padding, config.truncating) == (2, "post", "post")
    assert config.bag_features and config.num_words > 124_254  # every word of either IMDB file
    ratio = np.zeros(config.num_words + 2)
    model = runs.build_model(
        config, NgramTable.build(Ragged.from_lists([[1, 2]]), 2, base=config.num_words), ratio
    )
    assert [type(layer).__name__ for layer in model.layers] == [
        "ScaledEmbedding",
        "GlobalAveragePooling1D",
        "Dense",
    ]
    with pytest.raises(runs.RunError, match="log-count ratio"):
        runs.build_model(config, NgramTable.build(Ragged.from_lists([[1, 2]]), 2, base=config.num_words))
