"""Layers with hand-written forward and backward passes, under Keras's names."""

from npnet.graph import Input
from npnet.layers.activations import ReLU, Sigmoid, Softmax, Tanh
from npnet.layers.attention import MultiHeadAttention
from npnet.layers.base import Layer
from npnet.layers.batch_normalization import BatchNormalization
from npnet.layers.convolutional import Conv1D
from npnet.layers.core import Activation, Dropout, Flatten
from npnet.layers.dense import Dense
from npnet.layers.embedding import Embedding
from npnet.layers.masking import Masking
from npnet.layers.merging import Add, Average, Concatenate, Multiply
from npnet.layers.normalization import LayerNormalization
from npnet.layers.pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from npnet.layers.recurrent import GRU, LSTM, SimpleRNN
from npnet.layers.scaled_embedding import ScaledEmbedding
from npnet.layers.spatial_dropout import SpatialDropout1D
from npnet.layers.transformer import TokenAndPositionEmbedding, TransformerBlock
from npnet.layers.wrappers import Bidirectional

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Input",
    "Layer",
    "LayerNormalization",
    "Masking",
    "MaxPooling1D",
    "MultiHeadAttention",
    "Multiply",
    "ReLU",
    "ScaledEmbedding",
    "Sigmoid",
    "SimpleRNN",
    "Softmax",
    "SpatialDropout1D",
    "Tanh",
    "TokenAndPositionEmbedding",
    "TransformerBlock",
]
