"""npnet: a from-scratch, pure-NumPy neural-network library.

Every forward and backward pass is written by hand; the API follows Keras's names.
"""

from npnet import (
    activations,
    callbacks,
    config,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)
from npnet.fast.plan import fast_plan
from npnet.functional import Model
from npnet.graph import Input
from npnet.model import Sequential
from npnet.plan import use_planner

# Speed is an override one level up (thinc's `set_current_ops`): fit/evaluate/predict run the plan that
# `npnet.fast` makes of a model; `npnet.plan.use_planner(npnet.plan.readable_plan)` runs every model on
# its readable layers instead.
use_planner(fast_plan)

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "config",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "utils",
]
__version__ = "0.1.0"
