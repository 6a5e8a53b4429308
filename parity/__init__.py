"""Keras parity: npnet and Keras 3 (JAX backend) compared on the same data, weights and batches.

- `specs`: the model/optimizer configurations both sides build (the notebook's seed model and its variants).
- `compare`: how two results are compared (max abs/rel difference against a stated tolerance) — NumPy only.
- `keras_side` / `npnet_side`: build and run each library from a spec.
- `checks`: each parity check, returning table rows; the tests in `tests/parity/` assert them and
  `python -m parity` prints them as a markdown table.
"""
