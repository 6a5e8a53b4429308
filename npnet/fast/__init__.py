"""Fast paths beside the readable layers: the fused Embedding + GlobalAveragePooling1D layer, its batch
sources and the kernels behind it, the fused Conv1D(relu) + GlobalMaxPooling1D layer, the table of fused
pairs the trainer swaps in (`fusions`) and an in-place Adam step.

Each is tested equal to its readable twin (the `Embedding`, `GlobalAveragePooling1D`, `Conv1D` and
`GlobalMaxPooling1D` layers, the plain Adam formula).
"""

from npnet.fast.adam import adam_update_
from npnet.fast.bag_cache import BagCache
from npnet.fast.batches import ArrayBatches, BagBatches, BatchSource
from npnet.fast.conv_max_pool import FusedConvMaxPool
from npnet.fast.embedding_pool import DEFAULT_DENSE_MIN_DF, BagBatch, BagOfWords, backward, forward
from npnet.fast.fused_layer import FusedEmbeddingPool
from npnet.threads import Workers, blas_threads

__all__ = [
    "DEFAULT_DENSE_MIN_DF",
    "ArrayBatches",
    "BagBatch",
    "BagBatches",
    "BagCache",
    "BagOfWords",
    "BatchSource",
    "FusedConvMaxPool",
    "FusedEmbeddingPool",
    "Workers",
    "adam_update_",
    "backward",
    "blas_threads",
    "forward",
]
