"""A model that has not learned is called so: the line that ends a stalled run of the notebook preset, and
`npnet predict`'s warning for such a run, both pointing at the tuned preset as the preset table defines it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from npnet import runs
from npnet.cli import _stall
from tests.training_helpers import build_data, run_cli


def metrics(loss: float, negatives: int = 50, positives: int = 50, accuracy: float = 0.61) -> dict:
    """The fields of metrics.json the verdict reads."""
    return {
        "loss": loss,
        "accuracy": accuracy,
        "confusion_matrix": [[negatives // 2, negatives - negatives // 2], [positives // 2, positives // 2]],
    }


def test_the_yardstick_is_the_loss_of_one_answer_for_every_review() -> None:
    assert _stall.constant_guess_loss(metrics(0.5)) == pytest.approx(math.log(2))
    share = 0.8  # 80 positives of 100: answering 0.8 everywhere
    expected = -(share * math.log(share) + (1 - share) * math.log(1 - share))
    assert _stall.constant_guess_loss(metrics(0.5, 20, 80)) == pytest.approx(expected)
    assert _stall.constant_guess_loss(metrics(0.5, 0, 80)) == 0.0


def test_only_a_loss_near_the_yardstick_has_not_learned() -> None:
    assert _stall.has_not_learned(metrics(0.6883))  # the notebook's run, seed 0
    assert not _stall.has_not_learned(metrics(0.30))  # a model that works
    # 0.5 is far below ln 2 on balanced labels, but above the yardstick of 95% positives (0.199)
    assert _stall.has_not_learned(metrics(0.5, 5, 95))


def test_the_verdict_speaks_only_of_a_stalled_notebook_run() -> None:
    stalled, learned = metrics(0.6883), metrics(0.30)
    written = _stall.notebook_verdict(runs.preset_config("notebook"), stalled)
    assert written is not None
    assert written.startswith("This reproduced the Keras notebook's model as written (test accuracy 0.6100, ")
    assert "learning rate 1e-05 with decay 1e-05 barely moves the weights" in written
    assert _stall.WHY_SCRIPT in written and "npnet train --preset tuned" in written
    changed = _stall.notebook_verdict(runs.preset_config("notebook", epochs=3, seed=4), stalled)
    assert changed is not None and changed.startswith(
        "This ran the Keras notebook's model with epochs 3, seed 4 ("
    )
    assert _stall.notebook_verdict(runs.preset_config("notebook"), learned) is None
    assert _stall.notebook_verdict(runs.preset_config("tuned"), stalled) is None
    assert _stall.predict_warning(learned) is None


def test_the_advice_describes_the_tuned_preset_from_the_preset_table(monkeypatch: pytest.MonkeyPatch) -> None:
    advice = _stall.tuned_advice()
    for name, value in runs.PRESETS["tuned"].items():
        assert f"{name} {value}" in advice
    monkeypatch.setitem(runs.PRESETS, "tuned", {**runs.PRESETS["tuned"], "epochs": 7})
    assert "epochs 7" in _stall.tuned_advice()


@pytest.fixture(scope="module")
def stalled_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The notebook's settings (lr 1e-5 with decay) for 2 epochs on the small synthetic IMDB: they stall."""
    data_dir = build_data(tmp_path_factory.mktemp("imdb"))
    runs_dir = tmp_path_factory.mktemp("runs")
    code, out, err = run_cli(
        "train", "--data-dir", data_dir, "--runs-dir", runs_dir, "--run-name", "nb", "--epochs", "2",
        "--verbose", "2",
    )  # fmt: skip
    assert code == 0, err
    return runs_dir / "nb", out


@pytest.mark.slow
def test_a_stalled_notebook_run_ends_by_saying_so(stalled_run: tuple[Path, str]) -> None:
    run_dir, out = stalled_run
    saved = json.loads((run_dir / "metrics.json").read_text())
    last = out.rstrip("\n").splitlines()[-1]
    assert last.startswith(
        f"This ran the Keras notebook's model with epochs 2 (test accuracy {saved['accuracy']:.4f}, "
        f"test loss {saved['loss']:.4f} against 0.6931 for answering 0.5 to every review"
    )
    assert last.endswith(_stall.tuned_advice())


@pytest.mark.slow
def test_predict_warns_once_for_a_run_that_has_not_learned(stalled_run: tuple[Path, str]) -> None:
    run_dir, _ = stalled_run
    code, out, err = run_cli("predict", "--run", run_dir, "--format", "json", "Dull and far too long.")
    assert code == 0
    assert len(json.loads(out)) == 1  # the warning stays out of the machine-readable output
    warnings = [line for line in err.splitlines() if "has not learned" in line]
    assert len(warnings) == 1 and warnings[0].startswith("npnet predict: warning: this run's model has not")
    assert warnings[0].endswith(_stall.tuned_advice())
