"""`npnet train --preset fasttext` / `--ngrams N` end to end on the small synthetic IMDB: the n-gram table in
the run folder, predict and evaluate applying it, resume, and its refusal of bad tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.datasets.ragged import Ragged
from npnet.preprocessing import add_ngrams
from npnet.preprocessing.ngrams import NgramTable
from tests.training_helpers import POSITIVE, SMALL, build_data, run_cli

# The fastText preset on the synthetic reviews' ~30 words: SMALL's vocabulary, length and rate.
FAST = ["--preset", "fasttext", *SMALL, "--maxlen", "64", "--verbose", "2"]  # 2: the printout says "N-grams:"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"))


@pytest.fixture(scope="module")
def run_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    code, out, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "ft", "--epochs", "4", *FAST
    )
    assert code == 0, err
    assert "N-grams:" in out
    return runs_dir / "ft"


@pytest.mark.slow
def test_the_run_holds_the_table_built_from_the_training_reviews(run_dir: Path, data_dir: Path) -> None:
    run = runs.open_run(run_dir)
    assert run.config.ngrams == 2 and run.config.architecture == "fasttext" and run.config.embedding_dim == 50
    table = NgramTable.load(run_dir / runs.NGRAMS_NPZ)
    data = runs.load_imdb(run.config, data_dir)  # builds the table again, from the same reviews
    np.testing.assert_array_equal(table.codes[0], data.ngrams.codes[0])
    assert run.model().layers[0].input_dim == table.input_dim == 60 + 1 + len(table)
    # the padded input is the reviews with their bigram ids appended, pre-padded and pre-truncated
    expected = add_ngrams(data.train_seqs.take(np.arange(3)), table, 2).to_lists()
    for row, ids in zip(data.x_train[:3], expected, strict=True):
        kept = ids[-64:]
        assert row[64 - len(kept) :].tolist() == kept and not row[: 64 - len(kept)].any()


def test_predict_applies_the_runs_ngrams_to_new_text(run_dir: Path) -> None:
    run = runs.open_run(run_dir)
    text = " ".join(POSITIVE * 2)
    code, out, err = run_cli("predict", "--run", run_dir, "--format", "json", text)
    assert code == 0, err
    ids = run.encode(text)
    with_ngrams = add_ngrams([ids], run.ngrams, 2)[0]
    assert len(with_ngrams) > len(ids)  # known bigrams were added
    x = np.zeros((1, 64), dtype=np.int32)
    x[0, 64 - len(with_ngrams) :] = with_ngrams
    np.testing.assert_array_equal(run.inputs([ids]), x)
    assert json.loads(out)[0]["probability"] == run.model().predict(x).item()
    assert json.loads(out)[0]["label"] == "positive"


def test_evaluate_reads_the_run_with_its_table(run_dir: Path) -> None:
    code, out, err = run_cli("evaluate", "--run", run_dir)
    assert code == 0, err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in out
    assert metrics["accuracy"] > 0.8


@pytest.mark.slow
def test_resume_continues_a_lazy_ngram_run_bitwise(data_dir: Path, tmp_path: Path) -> None:
    args = ["--data-dir", data_dir, "--runs-dir", tmp_path, *FAST, "--lazy"]
    assert run_cli("train", *args, "--run-name", "straight", "--epochs", "3")[0] == 0
    assert run_cli("train", *args, "--run-name", "split", "--epochs", "2")[0] == 0
    code, _, err = run_cli("train", "--resume", tmp_path / "split", "--epochs", "3", "--verbose", "0")
    assert code == 0, err
    assert runs.open_run(tmp_path / "split").config.lazy  # the run's --lazy survives the resume
    a = runs.open_run(tmp_path / "straight").model().get_weights()
    b = runs.open_run(tmp_path / "split").model().get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_ngrams_work_on_the_notebook_preset_too(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", tmp_path, "--run-name", "nb", "--epochs", "1",
        "--ngrams", "3", "--verbose", "0", *SMALL,
    )  # fmt: skip
    assert code == 0, err
    run = runs.open_run(tmp_path / "nb")
    assert run.ngrams.ngram_range == 3 and run.model().layers[0].input_dim == run.ngrams.input_dim


def test_a_missing_or_corrupt_table_is_a_clear_error(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "word_index.json", "weights.npz"):
        (broken / name).write_bytes((run_dir / name).read_bytes())
    code, _, err = run_cli("predict", "--run", broken, "a great film")
    assert code == 1 and "n-gram table" in err and "Traceback" not in err
    (broken / runs.NGRAMS_NPZ).write_bytes(b"not a zip file")
    code, _, err = run_cli("predict", "--run", broken, "a great film")
    assert code == 1 and "ngrams.npz" in err and "Traceback" not in err


def test_ngrams_need_a_model_that_averages_embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    from npnet import layers, models
    from npnet.model import Sequential

    def no_pooling(num_words: int = 10) -> Sequential:
        return Sequential([layers.Embedding(num_words, 4), layers.Dense(1)])

    monkeypatch.setitem(models.ARCHITECTURES, "no_pooling", no_pooling)
    assert runs.TrainConfig(architecture="no_pooling").ngrams == 1  # words only: fine
    with pytest.raises(runs.RunError, match="Embedding -> GlobalAveragePooling1D"):
        runs.TrainConfig(architecture="no_pooling", ngrams=2)
    with pytest.raises(runs.RunError, match="ngrams must be a positive integer"):
        runs.TrainConfig(ngrams=0)


def test_the_preset_has_keras_settings() -> None:
    config = runs.preset_config("fasttext")
    settings = (config.num_words, config.maxlen, config.batch_size, config.embedding_dim, config.epochs)
    assert settings == (20_000, 400, 32, 50, 5)
    assert (config.ngrams, config.learning_rate, config.decay, config.padding, config.truncating) == (
        2, 1e-3, 0.0, "pre", "pre",
    )  # fmt: skip
    model = runs.build_model(config, NgramTable.build(Ragged.from_lists([[1, 2, 3]]), 2, base=20_000))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Embedding",
        "GlobalAveragePooling1D",
        "Dense",
    ]
    assert model.optimizer.lazy == config.lazy


def test_ngrams_on_a_model_that_does_not_average_embeddings_is_refused() -> None:
    from npnet.errors import RunError

    with pytest.raises(
        RunError, match="ngrams=2 needs a model that starts Embedding -> GlobalAveragePooling1D"
    ):
        runs.preset_config("cnn", ngrams=2)
    assert runs.preset_config("fasttext").lazy is False  # Keras's dense Adam, chosen on validation
    assert runs.preset_config("fasttext", lazy=True).optimizer().takes_sparse_rows(np.zeros((3, 2))) is True
    with pytest.raises(RunError, match="lazy must be true or false"):
        runs.TrainConfig.from_dict({"lazy": "yes"})
