"""`npnet train --preset lstm | bilstm` end to end on the small synthetic IMDB: run folder, report, resume
(bitwise equal to an uninterrupted run: dropout masks and shuffles come from the checkpointed fit_rng), and
predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from npnet import runs
from npnet.saving import archive
from tests.training_helpers import build_data, run_cli

# The presets' layers at toy sizes: 60 words, 8-wide embeddings, 16 steps.
TINY = ["--num-words", "60", "--maxlen", "16", "--embedding-dim", "8", "--batch-size", "16", "--verbose", "0"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("imdb"), n_per_class=30)


def _weights(run_dir: Path) -> list[np.ndarray]:
    arrays, _ = archive.load_arrays(run_dir / runs.WEIGHTS_NPZ, kind="weights")
    return [arrays[key] for key in sorted(arrays)]


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["lstm", "bilstm"])
def test_train_resume_and_predict(preset: str, data_dir: Path, tmp_path: Path) -> None:
    common = ["--data-dir", data_dir, "--runs-dir", tmp_path, "--preset", preset, *TINY]
    code, _, err = run_cli("train", *common, "--run-name", "straight", "--epochs", "2")
    assert code == 0, err
    code, _, err = run_cli("train", *common, "--run-name", "split", "--epochs", "1")
    assert code == 0, err
    code, _, err = run_cli("train", "--resume", tmp_path / "split", "--epochs", "2", "--verbose", "0")
    assert code == 0, err
    straight, split = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert len(straight) == len(split) > 0
    assert all(np.array_equal(a, b) for a, b in zip(straight, split, strict=True))  # the same computation

    config = json.loads((tmp_path / "straight" / "config.json").read_text())["config"]
    assert config["architecture"] == {"lstm": "imdb_lstm", "bilstm": "imdb_bidirectional_lstm"}[preset]
    assert (config["padding"], config["batch_size"], config["learning_rate"]) == ("pre", 16, 1e-3)
    assert (tmp_path / "straight" / "report.md").is_file()

    code, out, err = run_cli(
        "predict", "--run", tmp_path / "straight", "--format", "json", "great film", "awful"
    )
    assert code == 0, err
    scores = [row["probability"] for row in json.loads(out)]
    assert len(scores) == 2 and all(0 < p < 1 for p in scores)


def test_presets_are_the_keras_examples() -> None:
    lstm, bilstm = runs.preset_config("lstm"), runs.preset_config("bilstm")
    assert (lstm.num_words, lstm.maxlen, lstm.batch_size, lstm.epochs) == (20_000, 80, 32, 15)
    assert (bilstm.num_words, bilstm.maxlen, bilstm.batch_size, bilstm.epochs) == (20_000, 100, 32, 4)
    model = runs.build_model(lstm)
    model.build()
    assert model.count_params() == 20_000 * 128 + 4 * (128 * 128 + 128 * 128 + 128) + 129
    assert (model.layers[1].dropout, model.layers[1].recurrent_dropout) == (0.2, 0.2)
    model = runs.build_model(bilstm)
    model.build()
    assert model.count_params() == 20_000 * 128 + 2 * 4 * (128 * 64 + 64 * 64 + 64) + 129
