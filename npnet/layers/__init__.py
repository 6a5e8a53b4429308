"""Layers with hand-written forward and backward passes, under Keras's names."""

from npnet.layers.activations import ReLU, Sigmoid
from npnet.layers.base import Layer
from npnet.layers.core import Dropout
from npnet.layers.dense import Dense
from npnet.layers.embedding import Embedding
from npnet.layers.pooling import GlobalAveragePooling1D
from npnet.layers.recurrent import GRU, LSTM, SimpleRNN
from npnet.layers.wrappers import Bidirectional

__all__ = [
    "GRU",
    "LSTM",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "GlobalAveragePooling1D",
    "Layer",
    "ReLU",
    "Sigmoid",
    "SimpleRNN",
]
