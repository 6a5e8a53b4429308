"""examples/train_by_hand.py runs as written and learns: the loss falls steadily."""

import runpy
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_by_hand.py"


def test_training_by_hand_lowers_the_loss(capsys):
    losses = runpy.run_path(str(EXAMPLE))["main"](steps=200)
    assert len(losses) == 200 and np.all(np.isfinite(losses))
    assert losses[0] > 0.6 and losses[-1] < 0.5 * losses[0]
    assert capsys.readouterr().out.startswith("step   0  loss ")
