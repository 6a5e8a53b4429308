"""One Keras-JAX run of a preset for `npnet compare --with keras`: the preset's layers in Keras 3 on JAX
(`benchmarks.seeds.compiled_keras_twin`: `npnet.keras_export`'s twin, the preset's Adam), trained on the same
data and batches per epoch as the npnet run, seeded with `keras.utils.set_random_seed(seed)`.

`run_cell(spec)` takes a spec of `npnet.sweep.Plan.specs` and writes its row as `sweep_row.json` in the
spec's run folder (the row's keys are `npnet.sweep`'s, so the sweep's results.csv, summary.md and the
comparison read it alike); `npnet.sweep`'s engines run it for a spec whose `worker` names this module:
`python -m benchmarks.keras_cell SPEC_JSON` locally, `run_cell` on a Dask worker. The folder holds the row
only (no npnet run: `npnet evaluate` does not read it).

One thread, as npnet's runs in a comparison: XLA's CPU client is asked for one intra-op thread and no
multi-threaded Eigen, set before JAX is first imported (in a Dask worker that imported JAX before, the
worker's own setting holds). Training seconds are Keras's epochs (validation included), the first one
with JAX's compilation.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

from npnet import runs, sweep  # after the environment that Keras and JAX read at import


def run_cell(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train the Keras twin of the spec's preset for its seed (or read its finished row); its row."""
    run_dir = Path(spec["run_dir"])
    if (run_dir / sweep.ROW_JSON).exists():
        row: dict[str, Any] = json.loads((run_dir / sweep.ROW_JSON).read_text(encoding="utf-8"))
        return row
    sweep.reset_peak_rss()
    import keras

    from benchmarks.seeds import compiled_keras_twin

    config = runs.preset_config(spec["preset"], **spec["settings"], seed=spec["seed"])
    data = runs.load_imdb(config, spec["data_dir"]).without_reviews()
    keras.utils.set_random_seed(config.seed)
    model = compiled_keras_twin(keras, config, data)
    (x, y), (x_val, y_val) = runs.fit_arrays(config, data)
    seconds: list[float] = []

    class EpochSeconds(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seconds.append(time.perf_counter() - self.start)

    history = model.fit(
        x, y.astype("float32"), validation_data=(x_val, y_val.astype("float32")), epochs=config.epochs,
        batch_size=config.batch_size, verbose=0, callbacks=[EpochSeconds()],
    ).history  # fmt: skip
    test_loss, test_accuracy = model.evaluate(
        data.x_test, data.test_labels.astype("float32"), batch_size=config.batch_size, verbose=0
    )
    val_accuracy = [float(a) for a in history["val_accuracy"]]
    best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__)
    row = {
        "run": run_dir.name,
        "preset": spec["preset"],
        **spec["settings"],
        "seed": spec["seed"],
        "epochs": len(seconds),
        "final_val_loss": float(history["val_loss"][-1]),
        "final_val_accuracy": val_accuracy[-1],
        "best_val_accuracy": val_accuracy[best],
        "best_epoch": best + 1,
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "seconds": float(sum(seconds)),
        "parameters": int(model.count_params()),
        "peak_rss_mb": sweep.peak_rss_mb(),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(row, indent=2) + "\n"
    sweep.atomic_write(run_dir / sweep.ROW_JSON, lambda f: f.write(text.encode("utf-8")))
    return row


if __name__ == "__main__":
    run_cell(json.loads(sys.argv[1]))
