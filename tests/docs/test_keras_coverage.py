"""docs/keras-coverage.md stays true: every name of a supported (or supported-with-a-difference) row imports,
every difference is said, and every public npnet layer, metric and callback of Keras's name has a row."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

import npnet

PAGE = Path(__file__).resolve().parents[2] / "docs" / "keras-coverage.md"
STATUSES = {"supported", "difference", "not"}


def rows() -> list[dict[str, str]]:
    """The table rows of the page: {"keras", "npnet", "status", "difference"}, backticks removed."""
    found = []
    for line in PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or cells[0] in ("Keras 3", "---"):
            continue
        keras_name, npnet_name, status, difference = (cell.strip("`") for cell in cells)
        found.append({"keras": keras_name, "npnet": npnet_name, "status": status, "difference": difference})
    return found


def resolve(dotted: str) -> Any:
    """The object at `dotted`: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(dotted)


def test_the_page_has_rows_of_known_statuses():
    table = rows()
    assert len(table) > 50
    assert {row["status"] for row in table} == STATUSES


@pytest.mark.parametrize("row", [r for r in rows() if r["status"] != "not"], ids=lambda r: r["keras"])
def test_every_supported_name_imports(row):
    assert row["npnet"].startswith("npnet."), row
    assert resolve(row["npnet"]) is not None
    if row["status"] == "difference":
        assert row["difference"], f"{row['keras']}: say the difference"


def test_a_row_marked_not_names_nothing_of_npnets():
    assert all(not row["npnet"] for row in rows() if row["status"] == "not")


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("layers", [n for n in npnet.layers.__all__ if n not in ("Layer", "Input", "Sigmoid", "Tanh")]),
        ("callbacks", ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
                       "CSVLogger", "LambdaCallback", "TensorBoard", "History"]),
        ("metrics", ["BinaryAccuracy", "Precision", "Recall", "AUC"]),
    ],
)  # fmt: skip
def test_every_public_keras_name_has_a_row(module, names):
    listed = {row["npnet"] for row in rows()}
    missing = [name for name in names if f"npnet.{module}.{name}" not in listed]
    assert not missing, f"add rows to {PAGE.name} for {missing}"


def test_the_resolver_fails_on_a_wrong_name():
    with pytest.raises(AttributeError):
        resolve("npnet.layers.GroupNormalization")  # a Keras layer npnet does not have
