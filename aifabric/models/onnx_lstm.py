"""Write a Keras LSTM autoencoder as an ONNX graph directly from its weights.

Keras' ``model.export(format="onnx")`` traces the model and converts it with tf2onnx: about 3 s
per training run for a network of five layers. The LSTM-AE's layers all have an ONNX operator
(``LSTM``, ``Expand`` for RepeatVector, ``MatMul`` + ``Add`` for the per-step Dense), so this
module emits the graph from the weights in milliseconds. The train step still compares the ONNX
scores with the Keras model's and fails the run on a difference, and :func:`export` returns
False for a layer it does not know, so the caller falls back to ``model.export``.

Layout: ONNX's LSTM takes ``[steps, batch, features]``; the graph transposes the input
``windows [batch, steps, features]`` once and the output back. Keras orders the gates
(input, forget, cell, output), ONNX (input, output, forget, cell).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["export"]

OPSET = 17
_KERAS_TO_ONNX_GATES = (0, 3, 1, 2)  # i, f, c, o -> i, o, f, c


def _gates(matrix: np.ndarray, units: int) -> np.ndarray:
    """Reorder the gate blocks of the last axis from Keras' order to ONNX's."""
    blocks = [matrix[..., g * units : (g + 1) * units] for g in _KERAS_TO_ONNX_GATES]
    return np.concatenate(blocks, axis=-1)


def _supported(layer: Any) -> bool:
    kind = type(layer).__name__
    if kind == "LSTM":
        cfg = layer.get_config()
        return (
            cfg.get("activation") == "tanh"
            and cfg.get("recurrent_activation") == "sigmoid"
            and cfg.get("use_bias", True)
            and not cfg.get("go_backwards")
            and not cfg.get("stateful")
        )
    if kind == "TimeDistributed":
        inner = layer.layer
        return type(inner).__name__ == "Dense" and inner.get_config().get("activation") == "linear"
    return kind in ("InputLayer", "RepeatVector", "GaussianNoise", "Dropout")


def export(model: Any, path: Path, input_name: str = "windows", output_name: str = "reconstruction") -> bool:
    """Write ``model`` (a sequential Keras LSTM-AE) to ``path``; False if a layer is not supported."""
    if not all(_supported(layer) for layer in model.layers):
        return False
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    _, steps, n_features = model.input_shape
    nodes.append(helper.make_node("Transpose", [input_name], ["x_tbf"], perm=[1, 0, 2]))
    current = "x_tbf"  # [steps, batch, features] from here on
    for i, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if kind == "LSTM":
            kernel, recurrent, bias = layer.get_weights()
            units = recurrent.shape[0]
            w = const(f"W{i}", _gates(kernel, units).T[None].astype(np.float32))
            r = const(f"R{i}", _gates(recurrent, units).T[None].astype(np.float32))
            b = np.concatenate([_gates(bias, units), np.zeros(4 * units)])[None].astype(np.float32)
            outputs = [f"y{i}", f"h{i}"]
            nodes.append(
                helper.make_node("LSTM", [current, w, r, const(f"B{i}", b)], outputs, hidden_size=units)
            )
            if layer.return_sequences:  # Y [steps, 1, batch, units] -> [steps, batch, units]
                nodes.append(
                    helper.make_node("Squeeze", [f"y{i}", const(f"ax{i}", np.array([1]))], [f"s{i}"])
                )
                current = f"s{i}"
            else:  # Y_h [1, batch, units]
                current = f"h{i}"
        elif kind == "RepeatVector":  # [1, batch, units] -> [n, batch, units]
            shape = const(f"rep{i}", np.array([layer.n, 1, 1], dtype=np.int64))
            nodes.append(helper.make_node("Expand", [current, shape], [f"e{i}"]))
            current = f"e{i}"
        elif kind == "TimeDistributed":
            kernel, bias = layer.layer.get_weights()
            nodes.append(helper.make_node("MatMul", [current, const(f"K{i}", kernel)], [f"m{i}"]))
            nodes.append(helper.make_node("Add", [f"m{i}", const(f"b{i}", bias)], [f"d{i}"]))
            current = f"d{i}"
    nodes.append(helper.make_node("Transpose", [current], [output_name], perm=[1, 0, 2]))
    out_features = model.output_shape[-1]
    graph = helper.make_graph(
        nodes,
        model.name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", steps, n_features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", steps, out_features])],
        initializer=inits,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aifabric")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return True
