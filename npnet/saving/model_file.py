"""`model.save(path)` / `load_model(path)`: a whole model in one safe file, as Keras's `.keras` file is.

The file is an `npnet.saving.archive` array archive (an `.npz` read with `allow_pickle=False`, written
atomically) of
kind "model". Its JSON header holds the architecture (each layer as `{"class_name", "config"}` from the
`Layer.get_config` protocol, rebuilt through the registry `npnet.layers.base.LAYER_CLASSES`, and for a
functional model its graph: each call as a layer name and inbound tensors, `Model.graph_config`), the model's
seed, dtype and fused setting, and the compile settings (optimizer config, loss, metrics); its arrays hold
the weights (`weights/<i>`, `get_weights()` order) and the optimizer state (`optimizer/<key>`); the
header also keeps the random generators' states, so a loaded model trains on exactly as the saved one.

Loading validates everything before building anything that is returned: a file that is not an npnet
model, is damaged, or describes layers or shapes that do not fit its arrays is refused with a
`ModelFileError` that names the file and the problem. Nothing in the file can run code.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from npnet import initializers, losses, metrics, optimizers
from npnet.errors import FileFormatError, NpnetError
from npnet.layers.base import deserialize, serialize
from npnet.saving import archive, validate

if TYPE_CHECKING:
    from npnet.functional import Model
    from npnet.model import Sequential

KIND = "model"


class ModelFileError(NpnetError, ValueError):
    """A saved-model file is missing, foreign, damaged or inconsistent."""


# Keras's own formats: a file of npnet's under one of these names would be one Keras cannot read.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_model_path(path: str | os.PathLike[str]) -> None:
    """ValueError when `path` names a Keras file (.keras, .h5): npnet writes its own format, and says how
    to get a Keras model instead."""
    name = os.fspath(path)
    if name.lower().endswith(KERAS_SUFFIXES):
        raise ValueError(
            f"model.save({name!r}): npnet writes its own model file, not Keras's .keras/.h5 format; save to "
            "a path ending in .npnet (read back with npnet.models.load_model), or for a Keras model call "
            "npnet.keras_export.to_keras(model).save('model.keras') (needs keras)"
        )


def save_model(model: Sequential, path: str | os.PathLike[str]) -> None:
    """Write `model` (built; compiled or not) to `path` atomically; a Keras file name is refused."""
    check_model_path(path)

    model._ensure_built()
    weights = model.weights  # live arrays, written at once: no copy of a large table
    arrays = {f"weights/{i}": w for i, w in enumerate(weights)}
    compiled = None
    if model.optimizer is not None and model.loss is not None:
        arrays |= {f"optimizer/{k}": np.asarray(v) for k, v in model.optimizer.get_state(copy=False).items()}
        compiled = {
            "optimizer": model.optimizer.get_config(),
            "loss": {"name": model.loss.name, "from_logits": bool(model.loss.from_logits)},
            "metrics": [{"class_name": type(m).__name__, **m.get_config()} for m in model.metrics],
        }
    meta = {
        "model": {
            "name": model.name,
            "seed": int(model.seed),
            "dtype": model.dtype.name,
            "fused": model.fused,
            "input_shape": list(model.input_shape or ()),
        },
        "layers": [serialize(layer) for layer in model.layers],
        # A functional model's calls: which layer runs on which tensors (None for a Sequential).
        "graph": model.graph_config(),  # None for a Sequential
        "weights": [{"shape": list(w.shape), "dtype": w.dtype.name} for w in weights],
        "compile": compiled,
        # Generator states, so training goes on exactly as it would have: the model's (shuffle, and noise
        # of layers without a seed) and each seeded layer's own.
        "rng": {
            "fit": model.fit_rng.bit_generator.state,
            "layers": {
                layer.name: layer.noise_rng.bit_generator.state
                for layer in _all_layers(model)
                if layer.noise_rng is not None and layer.noise_rng is not model.fit_rng
            },
        },
    }
    archive.save_arrays(path, arrays, kind=KIND, meta=meta)


def load_model(
    path: str | os.PathLike[str],
    sequential: type[Sequential],
    functional: type[Model],
    max_bytes: int | None = None,
) -> Sequential:
    """The model `save_model` wrote to `path`, rebuilt as a `sequential` or, for a file with a graph, as the
    `functional` model it describes (`npnet.models.load_model` passes `Sequential` and `Model`: this module
    never imports the models, which import it for `save`): same layers, weights and (if it was compiled)
    optimizer state, compiled again, so training continues where it stopped. ModelFileError for anything
    else.

    The file is read in this order, each step before anything the next one allocates: the header, checked
    against the schema (`validate.check_model_header`); the model's parameters planned from the configs
    without allocating them (`initializers.shapes_only`) and compared with the arrays' declared shapes;
    the memory it would take (weights, gradients, optimizer state) compared with `max_bytes` (default
    `validate.model_bytes_limit()`); then the arrays inflated and checked (finite floats, an integer step
    counter, non-negative second moments); then the model built."""
    where = f"{os.fspath(path)!r}"

    def refuse(problem: object) -> ModelFileError:
        return ModelFileError(
            f"{where} is not a valid npnet model file ({problem}); save the model again with model.save(path)"
        )

    try:
        index = archive.read_index(path, kind=KIND)
    except (FileNotFoundError, ValueError) as e:
        raise ModelFileError(f"cannot load a model: {e}") from None
    header = index.header
    try:
        validate.check_model_header(header)
        with initializers.shapes_only():
            planned = [(w.shape, w.dtype.name) for w in _rebuild(header, sequential, functional).weights]
    except (validate.SchemaError, TypeError, ValueError, KeyError) as e:
        raise refuse(e) from None
    declared = [(tuple(entry["shape"]), entry["dtype"]) for entry in header["weights"]]
    if planned != declared:
        raise refuse(f"its layers' configs make weights {planned}, its header lists {declared}")
    state_keys = sorted(key for key in index.shapes if key.startswith("optimizer/"))
    expected_keys = [f"weights/{i}" for i in range(len(declared))]
    if sorted(set(index.shapes) - set(state_keys)) != sorted(expected_keys):
        raise refuse(f"it holds arrays {sorted(index.shapes)}, its header lists {len(declared)} weights")
    for key, (shape, dtype) in zip(expected_keys, declared, strict=True):
        if index.shapes[key] != shape or index.dtypes[key].name != dtype:
            raise refuse(f"{key} is {index.dtypes[key]} {index.shapes[key]}, the header says {dtype} {shape}")
    if (header["compile"] is None) != (not state_keys):
        raise refuse("its optimizer state and compile settings disagree")
    # A slot belongs to a trainable weight (slot i to the i-th): which weights those are, the rebuilt model
    # says (below); before building, a slot must at least be numbered and have a weight's shape.
    shapes = {shape for shape, _ in declared}
    for key in state_keys:
        if key != "optimizer/iterations" and not (
            key.rpartition("/")[2].isdigit()
            and int(key.rpartition("/")[2]) < len(declared)
            and index.shapes[key] in shapes
        ):
            raise refuse(f"the optimizer slot {key!r} {index.shapes[key]} matches no weight")
    weight_bytes = sum(index.nbytes(key) for key in expected_keys)
    try:
        limit = validate.model_bytes_limit() if max_bytes is None else max_bytes
        # the weights, their gradients (allocated at build) and the optimizer state
        validate.check_fits(
            2 * weight_bytes + sum(index.nbytes(key) for key in state_keys), limit, f"the model in {where}"
        )
    except validate.SchemaError as e:
        raise ModelFileError(str(e)) from None
    try:
        arrays = archive.read_arrays(path, index)
        archive.check_float_arrays(path, {key: arrays[key] for key in expected_keys}, "weight")
    except FileFormatError as e:
        raise ModelFileError(str(e)) from None
    state = {key.removeprefix("optimizer/"): arrays[key] for key in state_keys}
    try:
        if state:
            validate.check_optimizer_state(state)
        model = _rebuild(header, sequential, functional)
        model.set_weights([arrays[key] for key in expected_keys])
        compiled = header["compile"]
        if compiled is not None:
            config = dict(compiled["optimizer"])
            optimizer_class = config.pop("name").lower()
            model.compile(
                optimizer=optimizers.get(optimizer_class).__class__(**config),
                loss=losses.from_config(compiled["loss"]),
                metrics=[metrics.from_config(m) for m in compiled["metrics"]],
            )
            assert model.optimizer is not None  # compiled just above
            trainable = model._params()
            for key, slot in state.items():
                i = key.rpartition("/")[2]
                if key != "iterations" and (
                    int(i) >= len(trainable) or slot.shape != trainable[int(i)].shape
                ):
                    raise ValueError(f"the optimizer slot {key!r} {slot.shape} matches no trainable weight")
            model.optimizer.set_state(state)
        model.fit_rng.bit_generator.state = header["rng"]["fit"]
        own = header["rng"]["layers"]
        names = {layer.name for layer in _all_layers(model)}
        if unknown := sorted(set(own) - names):
            raise ValueError(f"generator states for layers it does not have: {unknown[:3]}")
        for layer in _all_layers(model):
            if layer.name in own:
                layer.noise_rng = np.random.default_rng()
                layer.noise_rng.bit_generator.state = own[layer.name]
    except (validate.SchemaError, TypeError, ValueError, KeyError) as e:
        raise refuse(e) from None
    return model


def _rebuild(header: dict[str, Any], sequential: type[Sequential], functional: type[Model]) -> Sequential:
    """The model the (schema-checked) header describes, built from its seed."""
    spec = header["model"]
    layers = [deserialize(entry) for entry in header["layers"]]
    if header.get("graph") is not None:
        return functional.from_graph_config(
            header["graph"], layers, spec["name"], spec["seed"], spec["dtype"]
        )
    model = sequential(layers, seed=spec["seed"], dtype=spec["dtype"], name=spec["name"], fused=spec["fused"])
    model.build(tuple(spec["input_shape"]))
    return model


def _all_layers(model: Sequential) -> list:
    return [part for layer in model.layers for part in (layer, *layer.sublayers())]
