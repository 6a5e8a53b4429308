"""Hostile model files (issue 29's list): each is refused in words, before the allocation or the recursion
it asks for. Each test failed on the code before `npnet.saving.validate` (checked by running this file
against that code)."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import npnet
from npnet import layers, optimizers
from npnet.models import load_model
from npnet.saving.model_file import ModelFileError


def _model(*stack: layers.Layer, optimizer: optimizers.Optimizer | None = None) -> npnet.Sequential:
    model = npnet.Sequential(
        list(stack) or [layers.Embedding(30, 4), layers.GlobalAveragePooling1D(), layers.Dense(1)], seed=0
    )
    model.build((None, 6))
    model.compile(optimizer=optimizer or optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).integers(1, 30, (8, 6))
    model.fit(x, np.ones(8), batch_size=4, verbose=0)
    return model


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _rewrite(path, header_change=None, arrays=None, compress=False):
    """A copy of the saved file (changed.npnet) with its header changed by `header_change(header)` and some
    arrays replaced (`arrays`: {name: bytes of an .npy}, or a str for raw JSON text of the header)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(str(np.load(io.BytesIO(members["__npnet__.npy"]))))
    text = header_change(header) if header_change else None
    members["__npnet__.npy"] = _npy(np.array(text if isinstance(text, str) else json.dumps(header)))
    members |= {f"{k}.npy": v for k, v in (arrays or {}).items()}
    out = path.with_name("changed.npnet")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.npnet"
    _model().save(path)
    return path


def _refused(path, match, **options):
    with pytest.raises(ModelFileError, match=match) as error:
        load_model(path, **options)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_a_huge_embedding_in_the_config_is_refused_before_it_is_allocated(saved):
    """input_dim=10**7 (160 MB at 4 floats a row) with the file's own 30-row table: the plan from the
    configs disagrees with the arrays, and nothing of the table's size was allocated."""

    def grow(header):
        header["layers"][0]["config"]["input_dim"] = 10**7

    tracemalloc.start()
    try:
        _refused(_rewrite(saved, grow), "configs make weights")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_a_model_over_the_memory_limit_is_refused_with_the_limit_and_how_to_raise_it(tmp_path, monkeypatch):
    path = tmp_path / "big.npnet"
    _model(layers.Embedding(50_000, 8), layers.GlobalAveragePooling1D(), layers.Dense(1)).save(path)  # 1.6 MB
    message = _refused(path, "more than the limit of 1.0 MiB", max_bytes=2**20)
    assert "NPNET_MAX_MODEL_BYTES=1G" in message
    monkeypatch.setenv("NPNET_MAX_MODEL_BYTES", "1M")
    _refused(path, "more than the limit")
    monkeypatch.setenv("NPNET_MAX_MODEL_BYTES", "64M")
    assert load_model(path).layers[0].params["embeddings"].shape == (50_000, 8)


def test_a_zip_member_that_inflates_far_beyond_its_array_is_refused_before_inflating(saved):
    """weights/0 declared (10**7,) float64: 80 MB of zeros deflated to ~80 KB."""
    bomb = _npy(np.zeros(10**7))
    tracemalloc.start()
    try:
        _refused(_rewrite(saved, arrays={"weights/0": bomb}, compress=True), "weights/0 is float64")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20  # the bomb's own bytes (80 MB inflated) never were


def test_a_member_whose_zip_size_disagrees_with_its_array_header_is_refused(saved):
    header = _npy(np.zeros(4, dtype=np.float32))[:128]  # a header that promises 16 bytes, and no data
    _refused(_rewrite(saved, arrays={"weights/0": header + b"\0" * 4}), "declares 132 bytes")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        '{"layers": '
        + '{"class_name": "Bidirectional", "config": {"layer": ' * 5000
        + "null"
        + "}}" * 5000
        + "}",
    ],
    ids=["deep JSON", "Bidirectional 5000 deep"],
)
def test_deep_nesting_is_refused_without_recursion_error(saved, text):
    _refused(_rewrite(saved, lambda header: text), "the header nests [0-9]+ levels deep, more than the 32")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda h: h["model"].update(seed="INF"), "seed is str"),
        (lambda h: "INF", "Infinity, not a finite number"),
        (
            lambda h: h["layers"][0]["config"]["embeddings_initializer"]["config"].update(minval=1e999),
            "1e999",
        ),
        (lambda h: h["rng"]["fit"]["state"].update(state=2**300), "not a PCG64 generator's state"),
    ],
    ids=["seed a string", "seed Infinity", "initializer bound 1e999", "generator state 2**300"],
)
def test_out_of_range_numbers_are_refused_without_overflow_error(saved, change, match):
    def apply(header):
        if change(header) == "INF":
            return json.dumps(header).replace('"seed": 0', '"seed": Infinity')
        return json.dumps(header).replace("1e+999", "1e999").replace("Infinity", "1e999")

    _refused(_rewrite(saved, apply), match)


def test_a_private_base_class_cannot_be_named(saved):
    def private(header):
        header["layers"][1] = {"class_name": "_WindowPooling1D", "config": {"name": "p"}}

    _refused(_rewrite(saved, private), "'_WindowPooling1D' is not an npnet layer class")


def test_twenty_thousand_layers_are_refused_at_once(saved):
    def many(header):
        relu = {"class_name": "ReLU", "config": {"name": "r", "dtype": None}}
        header["layers"] += [{**relu, "config": {"name": f"r{i}", "dtype": None}} for i in range(20_000)]

    path = _rewrite(saved, many)
    start = time.perf_counter()
    _refused(path, "1 to 1000 layers")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize(
    ("stack", "where"),
    [
        (
            (layers.Embedding(30, 4, mask_zero=True), layers.GlobalAveragePooling1D(), layers.Dense(1)),
            (0, "mask_zero"),
        ),
        (
            (
                layers.Embedding(30, 4),
                layers.LSTM(2, return_sequences=True),
                layers.GlobalAveragePooling1D(),
                layers.Dense(1),
            ),
            (1, "return_sequences"),
        ),
        ((layers.Embedding(30, 4), layers.LSTM(2, go_backwards=True), layers.Dense(1)), (1, "go_backwards")),
    ],
    ids=["mask_zero", "return_sequences", "go_backwards"],
)
def test_the_string_false_is_not_a_bool_in_a_layer(tmp_path, stack, where):
    _model(*stack).save(tmp_path / "m.npnet")
    index, key = where
    _refused(
        _rewrite(tmp_path / "m.npnet", lambda h: h["layers"][index]["config"].update({key: "false"})),
        f"{key} must be true or false, got str 'false'",
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda h: h["compile"]["optimizer"].update(lazy="false"), "lazy must be true or false"),
        (lambda h: h["compile"]["loss"].update(from_logits="false"), "from_logits must be true or false"),
    ],
    ids=["Adam lazy", "loss from_logits"],
)
def test_the_string_false_is_not_a_bool_in_the_compile_settings(saved, change, match):
    _refused(_rewrite(saved, change), match)


def test_nan_weights_are_refused(saved):
    weights = np.full((30, 4), np.nan, dtype=np.float32)
    _refused(_rewrite(saved, arrays={"weights/0": _npy(weights)}), "weights/0' holds NaN")


def test_integer_weights_are_refused(saved):
    ints = _npy(np.zeros((30, 4), dtype=np.int64))
    _refused(_rewrite(saved, arrays={"weights/0": ints}), "weights/0 is int64")

    def declare_int(header):
        header["weights"][0]["dtype"] = "int64"

    _refused(_rewrite(saved, declare_int, arrays={"weights/0": ints}), "weights/0: dtype is str 'int64'")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        ({"optimizer/iterations": np.array(2.5)}, "iterations is array\\(2.5\\)"),
        ({"optimizer/iterations": np.array(-5)}, "iterations is array\\(-5\\)"),
        ({"optimizer/v/0": -np.ones((30, 4), dtype=np.float32)}, "'v/0' holds negative values"),
        ({"optimizer/m/0": np.full((30, 4), np.inf, dtype=np.float32)}, "'m/0' holds NaN"),
    ],
    ids=["iterations 2.5", "iterations -5", "negative second moment", "infinite first moment"],
)
def test_bad_optimizer_state_is_refused(saved, array, match):
    _refused(_rewrite(saved, arrays={k: _npy(v) for k, v in array.items()}), match)


def _graph_file(tmp_path):
    ids = npnet.Input((6,), dtype="int32")
    e = layers.Embedding(30, 4)(ids)
    h = layers.Concatenate()([layers.GlobalAveragePooling1D()(e), layers.GlobalMaxPooling1D()(e)])
    model = npnet.Model(ids, layers.Dense(1, activation="sigmoid")(h))
    path = tmp_path / "g.npnet"
    model.save(path)
    assert load_model(path).count_params() == model.count_params()
    return path


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda g: g["nodes"][1].update(inbound=[["node", 3]]), "reads \\['node', 3\\], which is neither"),
        (lambda g: g["nodes"][1].update(inbound=[["input", 1]]), "reads \\['input', 1\\]"),
        (lambda g: g["nodes"][0].update(layer="nowhere"), "graph call 0: layer is str 'nowhere'"),
        (
            lambda g: [n.update(on_list=False) for n in g["nodes"] if n["on_list"]],
            "takes one tensor but lists 2",
        ),
    ],
    ids=["a later call", "a missing input", "an unknown layer", "a list into a one-tensor call"],
)
def test_a_functional_models_graph_is_checked(tmp_path, change, match):
    path = _graph_file(tmp_path)
    _refused(_rewrite(path, lambda h: change(h["graph"])), match)


def test_every_public_layer_class_has_a_schema_and_a_new_layer_is_told_what_to_declare():
    from npnet.saving import validate

    for name, cls in validate.public_layers().items():
        assert validate.constructor_schema(cls), name
    assert "_WindowPooling1D" not in validate.public_layers()
    assert "FastEmbedding" not in validate.public_layers()

    class Scaled(layers.Layer):
        def __init__(self, scale: complex, name: str | None = None) -> None:
            super().__init__(name=name)

    with pytest.raises(TypeError, match="'complex' has no JSON form"):
        validate.constructor_schema(Scaled)


def test_saving_to_an_empty_path_says_it_is_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="cannot save to '': it is a folder; give a file name"):
        _model().save("")
