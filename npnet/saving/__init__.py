"""Everything npnet writes to disk and reads back, pickle-free and validated before use:

- `archive`: `save_arrays`/`load_arrays` (one atomic `.npz` with a JSON header of kind and version) and the
  weights files (`save_weights`/`load_weights`, with a layer/class/param/shape manifest);
- `model_file`: `model.save(path)` and the parts `npnet.models.load_model` rebuilds a model from;
- `checkpoints`: a run's epoch checkpoint (weights, optimizer state, generator state, history), restored
  bitwise by `--resume`.
"""
