"""Accuracy as a distribution over seeds, npnet beside Keras 3 on JAX:
`python -m benchmarks.seeds --preset notebook --seeds 0-4 --data-dir DIR`.

For each seed, trains the preset's model on the preset's data and settings (npnet: `npnet.runs`, exactly as
`npnet train`; Keras: the same layers (`npnet.keras_export`, any preset), Keras's default initializers,
`keras.utils.set_random_seed(seed)`, Adam with Keras 2's decay as `InverseTimeDecay(lr, 1, decay)`, the same
batches per epoch shuffled by Keras) and prints the final test accuracy per seed, then per system the median
and the range. A benchmark script, not a test: Keras (the `bench` extra) is never a runtime dependency of
npnet. The same seed number does not give the two systems the same initial weights (their generators differ);
the comparison is between distributions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")  # read once, at Keras's first import (below, only if asked)

from npnet import models, runs
from npnet.datasets.files import DATA_DIR_HELP
from npnet.sweep import parse_seeds


def npnet_accuracy(config: runs.TrainConfig, data: runs.IMDBData, per_epoch: bool) -> list[float]:
    """Test accuracy after each epoch (`per_epoch`) or after the last: evaluating changes no training."""
    (x, y), _ = runs.fit_arrays(config, data)
    model = runs.build_model(config, data.ngrams, data.ratio)
    test = (data.x_test, data.test_labels)
    if per_epoch:
        history = model.fit(
            x, y, epochs=config.epochs, batch_size=config.batch_size, validation_data=test, verbose=0
        )
        return [float(a) for a in history.history["val_accuracy"]]
    model.fit(x, y, epochs=config.epochs, batch_size=config.batch_size, verbose=0)
    return [float(model.evaluate(*test, batch_size=config.batch_size)[1])]


def compiled_keras_twin(keras: Any, config: runs.TrainConfig, data: runs.IMDBData) -> Any:
    """The preset's own layers in Keras (`npnet.keras_export`: the n-gram table's rows for fastText, the
    ratio as nbsvm's frozen factors), compiled with the preset's Adam (Keras 2's decay as
    `InverseTimeDecay`; Keras's Adam is dense), binary cross-entropy and accuracy. Seed Keras first."""
    from npnet.keras_export import keras_model

    (x, _), _ = runs.fit_arrays(config, data)
    from parity.keras_transformer import EXAMPLE_LAYERS

    model = keras_model(
        keras, runs.build_model(config, data.ngrams, data.ratio), x.shape[1], custom=EXAMPLE_LAYERS
    )
    rate = (
        keras.optimizers.schedules.InverseTimeDecay(
            config.learning_rate, decay_steps=1, decay_rate=config.decay
        )
        if config.decay
        else config.learning_rate
    )
    # The architecture's loss (npnet.models.loss_for): 0/1 floats for a sigmoid, class ids for a softmax.
    loss = models.loss_for(config.architecture)
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=rate, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon
        ),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def keras_accuracy(config: runs.TrainConfig, data: runs.IMDBData, per_epoch: bool) -> list[float]:
    import keras

    keras.utils.set_random_seed(config.seed)
    (x, y), _ = runs.fit_arrays(config, data)
    model = compiled_keras_twin(keras, config, data)
    # 0/1 floats for a sigmoid, class ids for a softmax (the architecture's loss, npnet.models.loss_for)
    label_dtype = "float32" if models.loss_for(config.architecture) == "binary_crossentropy" else "int32"
    test = (data.x_test, data.test_labels.astype(label_dtype))
    fit = {"epochs": config.epochs, "batch_size": config.batch_size, "verbose": 0}
    if per_epoch:
        history = model.fit(x, y.astype(label_dtype), validation_data=test, **fit)
        return [float(a) for a in history.history["val_accuracy"]]
    model.fit(x, y.astype(label_dtype), **fit)
    return [float(model.evaluate(*test, verbose=0)[1])]


SYSTEMS = {"npnet": npnet_accuracy, "keras-jax": keras_accuracy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seeds", description=__doc__)
    parser.add_argument("--preset", choices=tuple(runs.PRESETS), default="notebook")
    parser.add_argument("--seeds", default="0-4", help="a range 0-4 or a list 0,3,7 (default: 0-4)")
    parser.add_argument("--systems", nargs="+", choices=tuple(SYSTEMS), default=list(SYSTEMS))
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (a quicker check)")
    parser.add_argument(
        "--per-epoch", action="store_true", help="also print the test accuracy after every epoch"
    )
    parser.add_argument("--data-dir", help=f"folder with imdb.npz ({DATA_DIR_HELP})")
    args = parser.parse_args(argv)

    seeds = parse_seeds(args.seeds)
    base = runs.preset_config(args.preset, epochs=args.epochs)
    data = runs.load_imdb(base, args.data_dir).without_reviews()
    print(
        f"preset {args.preset}: {base.epochs} epochs, lr {base.learning_rate}, decay {base.decay}, "
        f"seeds {seeds}"
    )
    results: dict[str, list[float]] = {name: [] for name in args.systems}
    for seed in seeds:
        config = runs.preset_config(args.preset, epochs=args.epochs, seed=seed)
        for name in args.systems:
            start = time.perf_counter()
            accuracies = SYSTEMS[name](config, data, args.per_epoch)
            results[name].append(accuracies[-1])
            epochs = f"  per epoch {', '.join(f'{a:.4f}' for a in accuracies)}" if args.per_epoch else ""
            print(
                f"  seed {seed} {name:<9} test accuracy {accuracies[-1]:.4f}  "
                f"({time.perf_counter() - start:.1f} s){epochs}",
                flush=True,
            )
    print()
    for name, values in results.items():
        print(
            f"{name:<9} median {statistics.median(values):.4f}, range {min(values):.4f}-{max(values):.4f} "
            f"over {len(values)} seeds: {', '.join(f'{v:.4f}' for v in values)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
