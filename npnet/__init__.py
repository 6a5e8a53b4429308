"""npnet: a from-scratch, pure-NumPy neural-network library.

Every forward and backward pass is written by hand; the API follows Keras's names.
"""

from npnet import activations, callbacks, config, initializers, layers, losses, metrics, models, optimizers
from npnet.functional import Model
from npnet.graph import Input
from npnet.model import Sequential

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
]
__version__ = "0.1.0"
