"""BackpropMonitor: its statistics against a hand computation on a tiny float64 model, on the fused and the
readable path; monitoring never changes training; the CSV, its torn last line and a resume; the findings."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import npnet
from npnet import layers
from npnet.callbacks import BackpropMonitor
from npnet.callbacks.backprop_monitor import OUTPUT, Record, read_csv, write_csv
from npnet.fast.plan import uses_fused_path
from npnet.reports.backprop_report import findings, with_section

VOCAB, T, N, BATCH = 12, 5, 16, 4


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.integers(1, VOCAB, size=(N, T))
    x[:, -2:] = 0  # padding: row 0 of the table
    return x, (x[:, 0] > VOCAB // 2).astype(np.float64)


def _model(fused: bool | None, lr: float = 0.05) -> npnet.Sequential:
    model = npnet.Sequential(
        [
            layers.Embedding(VOCAB, 3),
            layers.GlobalAveragePooling1D(),
            layers.Dense(4, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=1,
        dtype="float64",
        fused=fused,
    )
    model.compile(optimizer=npnet.optimizers.Adam(learning_rate=lr), loss="binary_crossentropy")
    return model


def _by_key(rows: list[Record]) -> dict[tuple[int, str, str, str], float]:
    return {(r.step, r.layer, r.parameter, r.statistic): r.value for r in rows}


def _hand_statistics(x: np.ndarray, y: np.ndarray, probe: np.ndarray, every: int) -> dict:
    """The monitor's numbers computed by hand: one train_on_batch per batch, in order (shuffle=False)."""
    model = _model(fused=False)
    model.build((None, T))
    expected = {}
    for step, start in enumerate(range(0, N, BATCH), start=1):
        xb, yb = x[start : start + BATCH], y[start : start + BATCH]
        before = [[p.copy() for p in layer.params.values()] for layer in model.layers]
        model.train_on_batch(xb, yb)
        if (step - 1) % every:
            continue
        for layer, old in zip(model.layers, before, strict=True):
            for (key, w), w0 in zip(layer.params.items(), old, strict=True):
                g = layer.grads[key]
                update = np.sqrt(np.sum((w - w0) ** 2))
                norm = np.sqrt(np.sum(w0**2))
                stats = {
                    "grad_norm": np.sqrt(np.sum(g**2)),
                    "grad_max": np.max(np.abs(g)),
                    "weight_norm": norm,
                    "update_norm": update,
                    "update_ratio": update / norm if norm else math.nan,
                }
                if key == "embeddings":
                    untouched = set(range(VOCAB)) - set(xb[xb != 0].ravel()) - {0}
                    zero_rows = [r for r in range(VOCAB) if not g[r].any()]
                    assert set(zero_rows) >= untouched  # the hand count agrees with the batch's ids
                    stats["zero_grad_rows"] = len(zero_rows) / VOCAB
                for name, value in stats.items():
                    expected[(step, layer.name, key, name)] = value
        hidden, out = model.layer_outputs(probe)[2:]
        expected[(step, "dense", OUTPUT, "mean")] = hidden.mean()
        expected[(step, "dense", OUTPUT, "std")] = hidden.std()
        expected[(step, "dense", OUTPUT, "zero_fraction")] = np.count_nonzero(hidden == 0) / hidden.size
        dead = [u for u in range(hidden.shape[1]) if np.all(hidden[:, u] == 0)]
        expected[(step, "dense", OUTPUT, "dead_fraction")] = len(dead) / hidden.shape[1]
        expected[(step, "dense_1", OUTPUT, "mean")] = out.mean()
        expected[(step, "dense_1", OUTPUT, "std")] = out.std()
        saturated = np.count_nonzero((out < 0.01) | (out > 0.99))
        expected[(step, "dense_1", OUTPUT, "saturated_fraction")] = saturated / out.size
    return expected


@pytest.mark.parametrize("fused", [None, False], ids=["fused", "readable"])
def test_statistics_match_a_hand_computation(fused: bool | None) -> None:
    x, y = _data()
    probe = x[:6]
    model = _model(fused)
    assert uses_fused_path(model) is (fused is None)
    monitor = BackpropMonitor(every=2, probe=probe)
    model.fit(x, y, epochs=1, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[monitor])
    got = _by_key(monitor.rows)
    expected = _hand_statistics(x, y, probe, every=2)
    assert {step for step, *_ in got} == {1, 3}
    assert set(got) == set(expected)
    for key, value in expected.items():
        if math.isnan(value):
            assert math.isnan(got[key]), key  # the zero-initialised biases at step 1
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert 0 < got[(1, "embedding", "embeddings", "zero_grad_rows")] < 1


def test_monitoring_leaves_training_bitwise_unchanged() -> None:
    x, y = _data()
    watched, plain = _model(None), _model(None)
    watched.fit(
        x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[BackpropMonitor(every=1, probe=x[:4])]
    )
    plain.fit(x, y, epochs=2, batch_size=BATCH, verbose=0)
    for a, b in zip(watched.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_csv_round_trip_drops_a_torn_last_line_and_refuses_garbage(tmp_path: Path) -> None:
    rows = [
        Record(1, 1, "dense", "kernel", "grad_norm", 0.5),
        Record(1, 1, "dense", OUTPUT, "mean", math.nan),
    ]
    path = tmp_path / "backprop.csv"
    write_csv(path, rows)
    back = read_csv(path)
    assert back[0] == rows[0] and math.isnan(back[1].value)
    with open(path, "a", encoding="utf-8") as f:
        f.write("3,1,dense,ker")  # killed mid-append
    assert len(read_csv(path)) == 2
    path.write_text("step,epoch,layer,parameter,statistic,value\n1,1,dense\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        read_csv(path)


def test_the_csv_follows_a_resume(tmp_path: Path) -> None:
    """Rows of steps after the checkpoint a resume restarts from are dropped; the file then grows on."""
    x, y = _data()
    path = tmp_path / "backprop.csv"
    model = _model(None)
    model.fit(x, y, epochs=2, batch_size=BATCH, verbose=0, callbacks=[BackpropMonitor(every=1, path=path)])
    assert {r.step for r in read_csv(path)} == set(range(1, 9))
    model.optimizer.iterations = 4  # as if restored from the checkpoint of epoch 1
    monitor = BackpropMonitor(every=1, path=path)
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=BATCH, verbose=0, callbacks=[monitor])
    steps = [
        r.step
        for r in read_csv(path)
        if (r.layer, r.parameter, r.statistic) == ("dense", "kernel", "grad_norm")
    ]
    assert steps == list(range(1, 9))
    assert len(read_csv(path)) == len(monitor.rows)


def test_findings_read_a_too_small_learning_rate() -> None:
    x, y = _data()
    text = {}
    for lr in (1e-6, 1e-2):
        monitor = BackpropMonitor(every=1, probe=x[:8])
        _model(None, lr=lr).fit(x, y, epochs=3, batch_size=BATCH, verbose=0, callbacks=[monitor])
        text[lr] = " ".join(findings(monitor.rows))
    slow_text, fast_text = text[1e-6], text[1e-2]
    assert "too small" in slow_text and "too small" not in fast_text
    assert "dead ReLUs" in slow_text and "dense_1's outputs" in slow_text


def test_the_section_is_replaced_not_repeated() -> None:
    report = "# run\n\n## Result\n\nok\n\n## Settings\n\n| a | b |\n"
    once = with_section(report, "## Backprop\n\nfirst\n")
    twice = with_section(once, "## Backprop\n\nsecond\n")
    assert once.index("## Backprop") < once.index("## Settings")
    assert twice.count("## Backprop") == 1 and "second" in twice and "first" not in twice
    assert twice.endswith("| a | b |\n")


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        BackpropMonitor(every=0)
