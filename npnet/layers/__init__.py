"""Layers with hand-written forward and backward passes, under Keras's names."""

from npnet.layers.activations import ReLU, Sigmoid, Softmax, Tanh
from npnet.layers.attention import MultiHeadAttention
from npnet.layers.base import Layer
from npnet.layers.convolutional import Conv1D
from npnet.layers.core import Activation, Dropout, Flatten
from npnet.layers.dense import Dense
from npnet.layers.embedding import Embedding
from npnet.layers.normalization import LayerNormalization
from npnet.layers.pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from npnet.layers.recurrent import GRU, LSTM, SimpleRNN
from npnet.layers.transformer import TokenAndPositionEmbedding, TransformerBlock
from npnet.layers.wrappers import Bidirectional

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "AveragePooling1D",
    "Bidirectional",
    "Conv1D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Layer",
    "LayerNormalization",
    "MaxPooling1D",
    "MultiHeadAttention",
    "ReLU",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "Tanh",
    "TokenAndPositionEmbedding",
    "TransformerBlock",
]
