"""Training a run: `fit_run` trains a run's model into its run folder (a checkpoint every epoch, resume,
the final weights)."""

from __future__ import annotations

from collections.abc import Sequence

import npnet
from npnet.callbacks import Callback, EpochCheckpoint, LearningRateLogger
from npnet.errors import RunError
from npnet.fast.plan import bag_cache
from npnet.runs.data import (
    IMDBData,
    fit_arrays,
)
from npnet.runs.folders import (
    CHECKPOINT_NPZ,
    WEIGHTS_NPZ,
    Run,
)
from npnet.saving import checkpoints


def fit_run(
    run: Run,
    model: npnet.Sequential,
    data: IMDBData,
    *,
    resume: checkpoints.Checkpoint | None = None,
    callbacks: Sequence[Callback] = (),
    verbose: int = 1,
) -> dict[str, list[float]]:
    """Train `model` (made by `build_model(run.config, run.ngrams)`), checkpointing into the run folder
    after every epoch and saving the final weights; returns the history of the whole run (loss, accuracy,
    val_loss, val_accuracy, lr, seconds per epoch).

    `resume`: the run's last checkpoint, to continue after its last complete epoch (bitwise as if never
    stopped). A KeyboardInterrupt propagates; the checkpoint of the last complete epoch is then on disk.
    """
    config = run.config
    (x_train, y_train), validation = fit_arrays(config, data)
    saver = EpochCheckpoint(
        run.path / CHECKPOINT_NPZ, config.to_dict(), history=resume.history if resume else None
    )
    if resume is not None:
        checkpoints.restore(model, resume)
    try:
        model.fit(
            x_train,
            y_train,
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_data=validation,
            shuffle=True,
            verbose=verbose,
            callbacks=[*callbacks, LearningRateLogger(), saver],
            initial_epoch=resume.epochs_done if resume else 0,  # all done: no epoch, the outputs only
        )
    except FloatingPointError as e:
        raise RunError(
            f"training diverged ({e}); start a new run with a smaller --lr (a checkpoint of the last "
            "complete epoch, if any, is kept)"
        ) from None
    # A run fits once: its bags of words are not needed again, and kept they would sit beside the test
    # set's (the command's predict), ~54 MB more peak RSS on IMDB (benchmarks.rss).
    bag_cache(model).clear()
    model.save_weights(run.path / WEIGHTS_NPZ)
    return saver.history
