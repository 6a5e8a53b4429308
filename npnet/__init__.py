"""npnet: a from-scratch, pure-NumPy neural-network library.

Every forward and backward pass is written by hand; the API follows Keras's names.
"""

from npnet import config

__all__ = ["config"]
__version__ = "0.1.0"
