"""The model a run's config defines: `build_model`, compiled as `npnet train` trains it."""

from __future__ import annotations

import npnet
from npnet import models
from npnet.preprocessing.ngrams import NgramTable
from npnet.runs.config import TrainConfig
from npnet.runs.data import ngram_table_for


def build_model(config: TrainConfig, ngrams: NgramTable | None = None) -> npnet.Sequential:
    """The run's model (`npnet.models`, by `config.architecture`), compiled with Adam (Keras 2 decay;
    `config.lazy`), the architecture's loss (`models.loss_for`: binary cross-entropy, or sparse categorical
    cross-entropy for a softmax output) and accuracy. With `config.ngrams` >= 2 the run's n-gram table
    `ngrams` is needed: the Embedding then has `ngrams.input_dim` rows (words and n-gram ids)."""
    settings = config.to_dict()
    if config.ngrams > 1:
        settings["num_words"] = ngram_table_for(config, ngrams).input_dim  # the builders' Embedding input_dim
    model = models.build(config.architecture, **settings)
    model.compile(
        optimizer=config.optimizer(),
        loss=models.loss_for(config.architecture),
        metrics=["accuracy"],
    )
    return model
