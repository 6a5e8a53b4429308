"""`npnet gradcheck --layer NAME / --model NAME / --list`: one thing checked, named as the report names it."""

from __future__ import annotations

import re

import pytest

from npnet import layers
from npnet.cli.gradcheck import CHECKS, LAYER_NAMES, MODEL_NAMES
from tests.training_helpers import run_cli

SMALL = ["--vocab", "500", "--batch-size", "6", "--seq-len", "24"]
SUBJECT = re.compile(r"^gradcheck (layer '[^']*' \((\w+)\)|loss (\w+)\(|model '[^']*')", re.MULTILINE)


def subjects(out: str) -> list[str]:
    """The class named by each report's header line (a layer's or a loss's), or "model"."""
    return [layer or loss or "model" for _, layer, loss in SUBJECT.findall(out)]


def test_list_names_everything_that_can_be_checked_and_checks_nothing() -> None:
    code, out, _ = run_cli("gradcheck", "--list")
    assert code == 0 and "gradcheck passed" not in out
    listed = re.findall(r"^  (\S+)\s+(\d+) checks?$", out, re.MULTILINE)
    assert [name for name, _ in listed] == [*LAYER_NAMES, *MODEL_NAMES]
    assert sum(int(count) for _, count in listed) == len(CHECKS)
    for name in ("Dense", "LSTM", "Conv1D", "Bidirectional", "notebook", "imdb_cnn", "graph", "fasttext"):
        assert name in LAYER_NAMES + MODEL_NAMES


def test_layer_runs_only_that_layers_checks_in_any_case() -> None:
    code, out, err = run_cli("gradcheck", *SMALL, "--layer", "dense")
    assert code == 0, err
    assert subjects(out) == ["Dense", "Dense"]
    assert "gradcheck passed: 2 checks" in out


def test_layers_add_up_and_a_loss_is_named_like_a_layer() -> None:
    code, out, err = run_cli("gradcheck", *SMALL, "--layer", "Flatten", "--layer", "binarycrossentropy")
    assert code == 0, err
    assert subjects(out) == ["BinaryCrossentropy", "BinaryCrossentropy", "Flatten"]  # in report order


@pytest.mark.parametrize(
    ("name", "titles"),
    [
        ("notebook", ["model 'sequential':", "model 'sequential' with Embedding(mask_zero=True)"]),
        ("GRAPH", ["model 'functional' (a graph: two inputs"]),
    ],
)
def test_model_runs_only_that_models_checks(name: str, titles: list[str]) -> None:
    code, out, err = run_cli("gradcheck", *SMALL, "--model", name)
    assert code == 0, err
    assert subjects(out) == ["model"] * len(titles)
    assert all(title in out for title in titles)
    assert f"gradcheck passed: {len(titles)} check{'s' if len(titles) > 1 else ''}," in out


@pytest.mark.parametrize(("flag", "names"), [("--layer", LAYER_NAMES), ("--model", MODEL_NAMES)])
def test_an_unknown_name_is_a_usage_error_listing_the_valid_ones(flag: str, names: tuple[str, ...]) -> None:
    code, out, err = run_cli("gradcheck", flag, "Transformerr")
    assert code == 2 and out == ""
    assert f"argument {flag}: no {flag[2:]} named 'Transformerr'; choose from {', '.join(names)}" in err


def test_a_selection_still_fails_on_a_wrong_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    right = layers.Dense.backward

    def doubled(self, grad_out):
        grad_in = right(self, grad_out)
        self.grads["bias"] *= 2
        return grad_in

    monkeypatch.setattr(layers.Dense, "backward", doubled)
    code, out, _ = run_cli("gradcheck", *SMALL, "--layer", "Dense")
    assert code == 1 and "gradcheck FAILED: 2 of 2 checks" in out
    code, out, _ = run_cli("gradcheck", *SMALL, "--layer", "ReLU")  # Dense is not in it
    assert code == 0 and "gradcheck passed: 1 check," in out
