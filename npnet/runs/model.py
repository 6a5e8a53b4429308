"""The model a run's config defines: `build_model`, compiled as `npnet train` trains it."""

from __future__ import annotations

import numpy as np

import npnet
from npnet import models
from npnet.preprocessing.ngrams import NgramTable
from npnet.runs.config import TrainConfig
from npnet.runs.data import input_dim, ratio_for


def build_model(
    config: TrainConfig, ngrams: NgramTable | None = None, ratio: np.ndarray | None = None
) -> npnet.Sequential:
    """The run's model (`npnet.models`, by `config.architecture`), compiled with Adam (Keras 2 decay;
    `config.lazy`), the architecture's loss (`models.loss_for`: binary cross-entropy, or sparse categorical
    cross-entropy for a softmax output) and accuracy. With `config.ngrams` >= 2 the run's n-gram table
    `ngrams` is needed: the Embedding then has `ngrams.input_dim` rows (words and n-gram ids). With
    `config.bag_features` the run's log-count ratio `ratio` is needed: the nbsvm model's fixed scales."""
    settings = config.to_dict()
    settings["num_words"] = input_dim(config, ngrams)  # the builders' Embedding input_dim
    if config.bag_features:
        settings["ratio"] = ratio_for(config, ngrams, ratio)
    model = models.build(config.architecture, **settings)
    model.compile(
        optimizer=config.optimizer(),
        loss=models.loss_for(config.architecture),
        metrics=["accuracy"],
    )
    return model
