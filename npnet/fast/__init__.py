"""Everything in npnet that exists only for speed, behind one seam: `npnet.fast.plan.fast_plan`.

`npnet/__init__.py` installs `fast_plan` as the planner of `fit`, `evaluate` and `predict`
(`npnet.plan.use_planner`); nothing else in the library imports this package, except the optimizers,
whose `fused=True` option picks the in-place Adam kernels of `adam`. Each fast object is a twin of a
readable one, tested equal to it (bitwise where the operations are the same, to rounding where BLAS or
a summation order differs):

- `plan`: the plan of a call: fused pairs, threaded twins, row-sparse gradients, the background Adam pass;
- `fusions`, `fused_layer`, `embedding_pool`, `batches`, `bag_cache`: Embedding -> GlobalAveragePooling1D
  run as one bag-of-words layer, its batch source and its cache of bags;
- `conv_max_pool`: Conv1D(relu) -> GlobalMaxPooling1D as one layer;
- `twin`, `embedding`, `conv`, `bidirectional`: twins of `Embedding`, `Conv1D` and `Bidirectional`;
- `adam`, `background_adam`: Adam's in-place kernels, and its dense step on large tables from their rows;
- `threads`: BLAS held to one thread, and the Python threads the twins use.
"""
