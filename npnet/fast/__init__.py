"""Fast kernels: the fused Embedding + GlobalAveragePooling1D pair and an in-place Adam step.

Each is tested equal to a readable reference (`npnet.fast.reference` and the plain Adam formula).
"""

from npnet.fast.adam import adam_update_
from npnet.fast.embedding_pool import DEFAULT_DENSE_MIN_DF, BagBatch, BagOfWords, backward, forward
from npnet.fast.threads import Workers, blas_threads

__all__ = [
    "DEFAULT_DENSE_MIN_DF",
    "BagBatch",
    "BagOfWords",
    "Workers",
    "adam_update_",
    "backward",
    "blas_threads",
    "forward",
]
