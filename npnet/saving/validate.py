"""The rules a file npnet reads must pass before anything is built from it, written once for model files
(`model_file`), checkpoints (`checkpoints`) and the archives under both (`archive`).

Each check raises `SchemaError` (a ValueError) with the problem in words; the reader that called it names
the file and the fix in its own error type. What is checked, in the order a model file is read:

- the JSON header: at most `MAX_HEADER_BYTES`, nested at most `MAX_JSON_DEPTH` deep, no NaN or Infinity
  (`loads_json`);
- every layer entry against its class's constructor: only the public layer classes (`public_layers`, the
  names `npnet.layers` exports), only the constructor's arguments, each of exactly a type its annotation
  allows (a JSON string is never a bool, a float never an int), integers within +-`MAX_INT`, strings at most
  `MAX_STRING` characters, a layer inside a layer at most `MAX_NESTING` deep, at most `MAX_LAYERS` layers;
  the same for the optimizer, loss and metric configs and each initializer (`check_call`);
- the random generators' states (`check_rng_state`), the graph of a functional model (`check_graph`);
- the memory the model will take, from its configs, before any array is inflated (`model_bytes_limit`);
- the arrays: weights finite floats, optimizer state finite floats with non-negative second moments and an
  integer step counter >= 0 (`check_optimizer_state`, `archive.check_float_arrays`).

What a new layer must declare to be loadable: be exported by `npnet.layers` (its `__all__`), take only
JSON-able constructor arguments with annotations from `_KINDS` (int, float, bool, str, None, np.dtype,
tuple[int], an initializer, a Layer or dict[str, Any] for a layer held inside it; a Callable alternative is
skipped, it has no JSON form), and return exactly those arguments from `get_config`. Anything it checks
beyond the type (a positive size, a rate below 1) its constructor checks as it does for any caller.
`tests/saving/test_validate.py` holds every public class to this.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from npnet.validation import MAX_CONFIG_INT, MAX_SEED

MAX_HEADER_BYTES = 16 * 2**20  # the JSON header of an archive; a 1000-layer model's is ~1 MB
MAX_JSON_DEPTH = 32  # a model file's header nests ~8 deep (layers > entry > config > layer > config > ...)
MAX_LAYERS = 1000  # layers of a model (and calls of a functional model's graph: 4 per layer)
MAX_NESTING = 4  # a layer held in a layer's config (Bidirectional(LSTM), Dense(activation=ReLU())): 1
MAX_STRING = 1000
MAX_INT = MAX_CONFIG_INT  # any integer of a layer, optimizer or initializer config (a layer's seed too)
MAX_INPUTS = 64  # inputs of a functional model, and inbound tensors of a call
FLOAT_DTYPES = ("float32", "float64")
# What a model may take in memory (weights, their gradients, optimizer state), unless raised by this
# variable: 4 GiB holds the largest preset (fastText's 1.2M x 50 table, Adam) four times over.
LIMIT_VARIABLE = "NPNET_MAX_MODEL_BYTES"
DEFAULT_MAX_MODEL_BYTES = 4 * 2**30
SECOND_MOMENTS = ("v", "vhat")  # Adam's running averages of g^2: never negative


class SchemaError(ValueError):
    """A header, config or array breaks a rule; the message says which and where."""


# ---- JSON -----------------------------------------------------------------------------------------------


def loads_json(text: str) -> Any:
    """`json.loads(text)` for a header: refused if nested deeper than `MAX_JSON_DEPTH` (checked on the text
    first, so a hostile file cannot exhaust the parser's recursion) or if it holds NaN or +-Infinity (which
    Python's json reads, and no npnet file writes)."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise SchemaError(
            f"the header nests {depth} levels deep, more than the {MAX_JSON_DEPTH} npnet writes"
        )

    def refuse(constant: str) -> Any:
        raise SchemaError(f"the header holds {constant}, not a finite number")

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            refuse(text)
        return value

    try:
        return json.loads(text, parse_constant=refuse, parse_float=finite)
    except json.JSONDecodeError as e:
        raise SchemaError(f"the header is not valid JSON ({e})") from None


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON `text`, brackets inside strings not counted (a linear scan)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


# ---- constructor arguments ------------------------------------------------------------------------------

# Each annotation alternative a constructor argument may have, and the JSON value it takes.
_KINDS = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "str": "str",
    "None": "null",
    "np.dtype": "str",
    "tuple[int]": "int",  # a 1-D size given as (k,); get_config writes the int
    "list[int]": "int",  # likewise as [k]
    "initializers.Initializer": "initializer",
    "Initializer": "initializer",
    "Layer": "layer",
    "Recurrent": "layer",
    "dict[str, Any]": "layer",  # how get_config stores a layer held inside a layer
}
_WORDS = {
    "int": f"an integer from {-MAX_INT} to {MAX_INT}",
    "float": "a finite number",
    "bool": "true or false",
    "str": f"a string of at most {MAX_STRING} characters",
    "null": "null",
    "initializer": "an initializer (a name or {class_name, config})",
    "layer": "a layer {class_name, config}",
}


@functools.cache
def constructor_schema(cls: type) -> dict[str, tuple[str, ...]]:
    """{argument: the JSON kinds it takes} from `cls.__init__`'s annotations, following `**options` up to the
    base class that takes them. TypeError for an annotation with no JSON form (a new class must use
    `_KINDS`' types)."""
    schema: dict[str, tuple[str, ...]] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        more = False
        for name, parameter in inspect.signature(vars(klass)["__init__"]).parameters.items():
            if name == "self" or parameter.kind is parameter.VAR_POSITIONAL:
                continue
            if parameter.kind is parameter.VAR_KEYWORD:
                more = True
                continue
            if name in schema:
                continue
            kinds = []
            for option in str(parameter.annotation).split(" | "):
                option = option.strip()
                if option.startswith("Callable["):
                    continue  # a function has no JSON form
                if option not in _KINDS:
                    raise TypeError(
                        f"{cls.__name__}({name}: {parameter.annotation}): {option!r} has no JSON form a file "
                        f"can hold; annotate with {', '.join(sorted(_KINDS))}"
                    )
                kinds.append(_KINDS[option])
            schema[name] = tuple(dict.fromkeys(kinds))
        if not more:
            break
    return schema


def _matches(value: Any, kind: str) -> bool:
    if kind == "int":
        return type(value) is int and -MAX_INT <= value <= MAX_INT
    if kind == "float":
        return type(value) in (int, float) and math.isfinite(value)
    if kind == "bool":
        return type(value) is bool
    if kind == "str":
        return type(value) is str and len(value) <= MAX_STRING
    if kind == "null":
        return value is None
    if kind == "initializer":
        return type(value) is str or type(value) is dict
    return type(value) is dict  # a layer


def check_call(cls: type, config: Any, where: str, depth: int = 0) -> None:
    """SchemaError unless `config` is a JSON object whose keys are arguments of `cls`'s constructor, each of
    a kind its annotation allows; layers and initializers inside it are checked in turn."""
    if type(config) is not dict:
        raise SchemaError(f"{where}: the config is {type(config).__name__}, not a JSON object")
    schema = constructor_schema(cls)
    if unknown := sorted(set(config) - set(schema)):
        raise SchemaError(f"{where}: {cls.__name__} takes no argument {unknown[0]!r:.100}")
    for key, value in config.items():
        kinds = schema[key]
        if not any(_matches(value, kind) for kind in kinds):
            wanted = " or ".join(_WORDS[kind] for kind in kinds)
            raise SchemaError(f"{where}: {key} must be {wanted}, got {_show(value)}")
        if type(value) is dict and "layer" in kinds:
            check_layer_entry(value, f"{where} > {key}", depth + 1)
        elif type(value) in (str, dict) and "initializer" in kinds:
            check_initializer(value, f"{where} > {key}")


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}" if type(value) is str else f"{value!r:.60}"


@functools.cache
def public_layers() -> dict[str, type]:
    """The layer classes a file may name: those `npnet.layers` exports (no private base, no fast twin)."""
    import npnet.layers
    from npnet.layers.base import LAYER_CLASSES, Layer

    return {
        name: LAYER_CLASSES[name]
        for name in npnet.layers.__all__
        if name in LAYER_CLASSES and LAYER_CLASSES[name] is not Layer
    }


def check_layer_entry(entry: Any, where: str, depth: int = 0) -> None:
    """SchemaError unless `entry` is {"class_name": a public layer class, "config": its arguments}."""
    if depth > MAX_NESTING:
        raise SchemaError(f"{where}: layers nest more than {MAX_NESTING} deep")
    if type(entry) is not dict or set(entry) - {"trainable"} != {"class_name", "config"}:
        raise SchemaError(f"{where}: a layer must be {{class_name, config[, trainable]}}, got {_show(entry)}")
    if "trainable" in entry and type(entry["trainable"]) is not bool:
        raise SchemaError(f"{where}: trainable must be true or false, got {_show(entry['trainable'])}")
    cls = public_layers().get(entry["class_name"]) if type(entry["class_name"]) is str else None
    if cls is None:
        raise SchemaError(
            f"{where}: {entry['class_name']!r:.100} is not an npnet layer class; npnet has "
            f"{', '.join(sorted(public_layers()))}"
        )
    check_call(cls, entry["config"], f"{where} ({entry['class_name']})", depth)


def check_initializer(value: Any, where: str) -> None:
    from npnet import initializers

    if type(value) is str:
        if value not in initializers._BY_NAME:
            raise SchemaError(f"{where}: unknown initializer {value!r:.100}")
        return
    classes = {cls.__name__: cls for cls in initializers._BY_NAME.values()}
    if set(value) != {"class_name", "config"} or classes.get(value["class_name"]) is None:
        raise SchemaError(
            f"{where}: an initializer must be {{class_name, config}} naming one of {sorted(classes)}"
        )
    check_call(classes[value["class_name"]], value["config"], where)


# ---- the model file's header ----------------------------------------------------------------------------


def check_rng_state(state: Any, where: str) -> None:
    """SchemaError unless `state` is a PCG64 generator's state as NumPy writes it (128-bit integers)."""
    ok = (
        type(state) is dict
        and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and state["bit_generator"] == "PCG64"
        and type(state["state"]) is dict
        and set(state["state"]) == {"state", "inc"}
        and all(type(v) is int and 0 <= v < 2**128 for v in state["state"].values())
        and state["has_uint32"] in (0, 1)
        and type(state["has_uint32"]) is int
        and type(state["uinteger"]) is int
        and 0 <= state["uinteger"] < 2**32
    )
    if not ok:
        raise SchemaError(f"{where} is not a PCG64 generator's state (128-bit integers)")


def _fields(value: Any, fields: Mapping[str, Any], where: str) -> dict[str, Any]:
    if type(value) is not dict or set(value) != set(fields):
        raise SchemaError(f"{where} must be an object with exactly {sorted(fields)}, got {_show(value)}")
    for key, test in fields.items():
        if not test(value[key]):
            raise SchemaError(f"{where}: {key} is {_show(value[key])}")
    return value


def _is_dict(value: Any) -> bool:
    return type(value) is dict


def _size(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_INT


def _shape(value: Any) -> bool:
    return type(value) is list and len(value) <= 8 and all(v is None or _size(v) for v in value)


def check_model_header(header: dict[str, Any]) -> None:
    """SchemaError unless the header of a model file follows `model_file.save_model`'s layout exactly."""
    from npnet import losses, metrics, optimizers

    required = {"format", "kind", "version", "model", "layers", "weights", "compile", "rng"}
    if set(header) - {"graph"} != required:  # files from before the functional API have no "graph"
        raise SchemaError(
            f"the header must hold exactly {sorted(required)} (and graph), got {sorted(header)}"
        )
    spec = _fields(
        header.get("model"),
        {
            "name": lambda v: type(v) is str and len(v) <= MAX_STRING,
            "seed": lambda v: type(v) is int and 0 <= v <= MAX_SEED,
            "dtype": lambda v: v in FLOAT_DTYPES,
            "fused": lambda v: v is None or type(v) is bool,
            "input_shape": lambda v: _shape(v) and (not v or v[0] is None),
        },
        "the model",
    )
    layers = header.get("layers")
    if type(layers) is not list or not 1 <= len(layers) <= MAX_LAYERS:
        raise SchemaError(f"the layers must be a list of 1 to {MAX_LAYERS} layers")
    for i, entry in enumerate(layers):
        check_layer_entry(entry, f"layer {i}")
    names = [entry["config"].get("name") for entry in layers]
    if len(set(names)) != len(names) or None in names:
        raise SchemaError("the layers' names must be given and distinct")
    if header.get("graph") is not None:
        check_graph(header["graph"], names)
    elif not spec["input_shape"]:
        raise SchemaError("a Sequential model needs its input_shape")
    weights = header.get("weights")
    if type(weights) is not list or len(weights) > 8 * MAX_LAYERS:
        raise SchemaError("the weights must be a list of {shape, dtype}")
    for i, entry in enumerate(weights):
        _fields(
            entry,
            {"shape": lambda v: _shape(v) and None not in v, "dtype": lambda v: v in FLOAT_DTYPES},
            f"weights/{i}",
        )
    compiled = header.get("compile")
    if compiled is not None:
        _fields(
            compiled,
            {"optimizer": _is_dict, "loss": _is_dict, "metrics": lambda v: type(v) is list},
            "compile",
        )
        config = dict(compiled["optimizer"]) if type(compiled["optimizer"]) is dict else None
        classes = {cls.__name__: cls for cls in optimizers.Optimizer.__subclasses__()}
        if config is None or classes.get(config.pop("name", None)) is None:
            raise SchemaError(f"the optimizer must name one of {sorted(classes)}")
        check_call(classes[compiled["optimizer"]["name"]], config, "the optimizer")
        loss = dict(compiled["loss"])
        loss_name = loss.pop("name", "binary_crossentropy")  # files from before other losses name none
        if type(loss_name) is not str or loss_name not in losses._BY_NAME:
            raise SchemaError(f"the loss must name one of {sorted(losses._BY_NAME)}")
        check_call(losses._BY_NAME[loss_name], loss, "the loss")
        if len(compiled["metrics"]) > 16:
            raise SchemaError("more than 16 metrics")
        metric_classes = {
            cls.__name__: cls for cls in [*metrics._BY_NAME.values(), *metrics._STATEFUL_BY_NAME.values()]
        }
        for i, metric in enumerate(compiled["metrics"]):
            entry = dict(metric) if type(metric) is dict else metric
            name = entry.pop("class_name", "BinaryAccuracy") if type(entry) is dict else None
            if type(name) is not str or name not in metric_classes:
                raise SchemaError(f"metric {i} must be one of {sorted(metric_classes)}")
            check_call(metric_classes[name], entry, f"metric {i}")
    rng = _fields(header.get("rng"), {"fit": _is_dict, "layers": _is_dict}, "rng")
    check_rng_state(rng["fit"], "rng > fit")
    for name, state in rng["layers"].items():
        check_rng_state(state, f"rng > layers > {name:.100}")


def check_graph(graph: Any, layer_names: list[str]) -> None:
    """SchemaError unless `graph` is `Model.graph_config`'s layout: inputs, and calls of named layers on
    inputs or on earlier calls' outputs only."""
    _fields(
        graph,
        {
            "inputs": lambda v: type(v) is list,
            "several_inputs": lambda v: type(v) is bool,
            "nodes": lambda v: type(v) is list,
        },
        "the graph",
    )
    inputs, nodes = graph["inputs"], graph["nodes"]
    if not 1 <= len(inputs) <= MAX_INPUTS or (len(inputs) > 1 and not graph["several_inputs"]):
        raise SchemaError(f"the graph must have 1 to {MAX_INPUTS} inputs (several only with several_inputs)")
    for i, tensor in enumerate(inputs):
        _fields(
            tensor,
            {
                "name": lambda v: type(v) is str and len(v) <= MAX_STRING,
                "shape": lambda v: _shape(v) and len(v) <= 7,
                "dtype": lambda v: type(v) is str and len(v) <= 32,
            },
            f"graph input {i}",
        )
    if not 1 <= len(nodes) <= 4 * MAX_LAYERS:
        raise SchemaError(f"the graph must have 1 to {4 * MAX_LAYERS} calls")
    known = set(layer_names)
    for j, node in enumerate(nodes):
        _fields(
            node,
            {
                "layer": lambda v: v in known,
                "inbound": lambda v: type(v) is list and 1 <= len(v) <= MAX_INPUTS,
                "on_list": lambda v: type(v) is bool,
            },
            f"graph call {j}",
        )
        if not node["on_list"] and len(node["inbound"]) != 1:
            raise SchemaError(f"graph call {j} takes one tensor but lists {len(node['inbound'])}")
        for ref in node["inbound"]:
            ok = (
                type(ref) is list
                and len(ref) == 2
                and type(ref[1]) is int
                and (
                    (ref[0] == "input" and 0 <= ref[1] < len(inputs))
                    or (ref[0] == "node" and 0 <= ref[1] < j)
                )
            )
            if not ok:
                raise SchemaError(
                    f"graph call {j} reads {_show(ref)}, which is neither an input nor an earlier call"
                )


# ---- memory ---------------------------------------------------------------------------------------------


def model_bytes_limit() -> int:
    """The most memory a loaded model may take: `$NPNET_MAX_MODEL_BYTES` (bytes, or with a K, M or G
    suffix), else `DEFAULT_MAX_MODEL_BYTES`."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_MODEL_BYTES
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:].upper(), 1)
    number = text[:-1] if scale > 1 else text
    if not number.isdigit():
        raise SchemaError(f"${LIMIT_VARIABLE} is {text!r}, not a size such as 8G, 512M or 8000000000")
    return int(number) * scale


def describe_bytes(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_fits(
    needed: int, limit: int, what: str, fix: str = "if you trust the file and have the memory"
) -> None:
    """SchemaError unless `needed` bytes fit in `limit`; the message ends with `fix` and how to raise the
    limit."""
    if needed > limit:
        raise SchemaError(
            f"{what} would take {describe_bytes(needed)} of memory, more than the limit of "
            f"{describe_bytes(limit)}; {fix}, raise the limit (e.g. {LIMIT_VARIABLE}={-(-needed // 2**30)}G)"
        )


# ---- arrays ---------------------------------------------------------------------------------------------


def float_array_problem(value: np.ndarray) -> str | None:
    """Why `value` cannot be a weight or an optimizer slot (None if it can)."""
    if value.dtype.kind != "f":
        return f"has dtype {value.dtype}, not a float"
    if not np.isfinite(value).all():
        return "holds NaN or infinite values (a diverged or damaged model)"
    return None


def check_optimizer_state(state: Mapping[str, np.ndarray]) -> None:
    """SchemaError unless `state` holds an integer scalar `iterations` >= 0 and finite float slots, the
    second moments (Adam's v, vhat) >= 0."""
    iterations = state.get("iterations")
    if iterations is None or iterations.shape != () or iterations.dtype.kind not in "iu" or iterations < 0:
        raise SchemaError(f"the optimizer's iterations is {iterations!r}, not an integer scalar >= 0")
    for key, value in state.items():
        if key == "iterations":
            continue
        if problem := float_array_problem(value):
            raise SchemaError(f"the optimizer slot {key!r} {problem}")
        if key.partition("/")[0] in SECOND_MOMENTS and (value < 0).any():
            raise SchemaError(f"the optimizer slot {key!r} holds negative values (a second moment is >= 0)")
