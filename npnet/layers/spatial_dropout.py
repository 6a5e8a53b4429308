"""SpatialDropout1D: dropout of whole feature channels of a sequence."""

from __future__ import annotations

import numpy as np

from npnet.layers.core import Dropout


class SpatialDropout1D(Dropout):
    """Keras's SpatialDropout1D on (batch, steps, channels): in training each sample drops each channel at
    every step at once, keep ~ Bernoulli(1 - rate) of shape (B, 1, C) broadcast over the steps, and scales
    what it keeps by 1 / (1 - rate) (inverted dropout, as `Dropout`, whose noise generator and backward
    it shares: dL/dx = dL/dy * keep / (1 - rate)). Neighbouring steps of a channel are strongly
    correlated, so dropping single elements would barely regularize; dropping the channel does."""

    def noise_shape(self, x: np.ndarray) -> tuple[int, ...]:
        """(B, 1, C) for x (B, T, C): one draw per sample and channel."""
        if x.ndim != 3:
            raise ValueError(
                f"SpatialDropout1D {self.name!r} takes (batch, steps, channels), got shape {x.shape}"
            )
        return (x.shape[0], 1, x.shape[2])
