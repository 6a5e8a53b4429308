"""What both sides build: the notebook's seed model and optimizer, and the variants the parity checks cover.

A spec is plain data, so npnet and Keras are built from one description and cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SEQUENCE_LENGTH = 256  # the notebook pads every review to 256 tokens ...
PADDING = "post"  # ... at the end (truncating stays 'pre', Keras's default)
BATCH_SIZE = 512
VOCAB_SIZE = 10_000


@dataclass(frozen=True)
class ModelSpec:
    """Embedding(V, D) -> GlobalAveragePooling1D -> Dense(hidden, relu) -> Dense(1, sigmoid or linear)."""

    vocab_size: int = VOCAB_SIZE
    embedding_dim: int = 16
    hidden_units: int = 16
    mask_zero: bool = False
    from_logits: bool = False  # True: a linear last layer and BCE computed from logits


@dataclass(frozen=True)
class OptimizerSpec:
    """Keras 2 style: `decay` is the legacy inverse-time decay lr / (1 + decay * iterations)."""

    name: Literal["adam", "sgd"] = "adam"
    learning_rate: float = 1e-3
    decay: float = 0.0
    amsgrad: bool = False
    momentum: float = 0.0
    nesterov: bool = False


@dataclass(frozen=True)
class TrainSpec:
    """A named training configuration: which model, which optimizer, how many `train_on_batch` steps."""

    name: str
    optimizer: OptimizerSpec
    model: ModelSpec = field(default_factory=ModelSpec)
    steps: int = 50


# The notebook's configuration: Adam(lr=1e-5, decay=1e-5). It moves the weights very little per step.
SEED = TrainSpec("seed (Adam lr 1e-5, decay 1e-5)", OptimizerSpec("adam", 1e-5, decay=1e-5))
# The same optimizer 100x faster, so 50 steps actually train and differences have room to grow.
FAST = TrainSpec("fast (Adam lr 1e-3, decay 1e-5)", OptimizerSpec("adam", 1e-3, decay=1e-5))
MAIN_SPECS: tuple[TrainSpec, ...] = (SEED, FAST)

VARIANT_STEPS = 25
VARIANT_SPECS: tuple[TrainSpec, ...] = (
    TrainSpec(
        "mask_zero=True",
        OptimizerSpec("adam", 1e-3, decay=1e-5),
        ModelSpec(mask_zero=True),
        steps=VARIANT_STEPS,
    ),
    TrainSpec(
        "Adam amsgrad=True", OptimizerSpec("adam", 1e-3, decay=1e-5, amsgrad=True), steps=VARIANT_STEPS
    ),
    # A decay large enough that an off-by-one in the schedule (decay on iterations after the increment)
    # changes every step's learning rate by ~1 %, far outside any tolerance.
    TrainSpec("Adam strong decay (1e-2)", OptimizerSpec("adam", 1e-3, decay=1e-2), steps=VARIANT_STEPS),
    TrainSpec("SGD momentum 0.9", OptimizerSpec("sgd", 0.5, decay=1e-3, momentum=0.9), steps=VARIANT_STEPS),
    TrainSpec(
        "SGD momentum 0.9, nesterov",
        OptimizerSpec("sgd", 0.5, decay=1e-3, momentum=0.9, nesterov=True),
        steps=VARIANT_STEPS,
    ),
    TrainSpec(
        "BCE from logits, linear last layer",
        OptimizerSpec("adam", 1e-3, decay=1e-5),
        ModelSpec(from_logits=True),
        steps=VARIANT_STEPS,
    ),
)
