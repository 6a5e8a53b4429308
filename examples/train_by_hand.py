"""Training by hand: what `model.fit` does, one step written out on the readable layers.

Each step is forward -> loss -> loss gradient -> backward -> optimizer step; `npnet.trainer` runs this
same loop (with batching, callbacks and, by default, the fused Embedding + pooling layer).
Run: `PYTHONPATH=. python examples/train_by_hand.py`.
"""

import numpy as np

from npnet import layers, losses, optimizers


def main(steps: int = 200) -> list[float]:
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, size=(256, 20))  # 256 "reviews" of 20 token ids
    y = ((x < 25).sum(axis=1) > 10).astype(np.float64).reshape(-1, 1)  # 1 when low ids are the majority
    stack = [layers.Embedding(50, 8), layers.GlobalAveragePooling1D(), layers.Dense(8, activation="relu")]
    stack.append(layers.Dense(1, activation="sigmoid"))
    shape: tuple = (None, 20)
    for layer in stack:
        layer.build(shape, rng, "float64")
        shape = layer.compute_output_shape(shape)
    loss_fn, optimizer, losses_seen = losses.BinaryCrossentropy(), optimizers.Adam(learning_rate=0.02), []
    for step in range(steps):
        out = x
        for layer in stack:  # forward: each layer caches what its backward needs (no mask: mask_zero=False)
            out = layer.forward(out, training=True)
        loss = loss_fn(y, out)
        grad = loss_fn.gradient(y, out)  # dL/dp, shape (256, 1)
        for layer in reversed(stack):  # backward: each layer fills layer.grads, returns dL/d(its input)
            grad = layer.backward(grad)
        optimizer.apply_gradients([(lay.grads[k], lay.params[k]) for lay in stack for k in lay.params])
        losses_seen.append(loss)
        if step % 40 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {loss:.4f}")
    return losses_seen


if __name__ == "__main__":
    main()
