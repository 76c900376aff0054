"""A tiny custom model definition (no TensorFlow): reconstructs every window as the training mean.

Used by the tests as a user's uploaded module: it exercises the plugin path end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aifabric.models.base import ModelDefinition


class MeanWindow(ModelDefinition):
    name: ClassVar[str] = "mean_window"
    features: ClassVar[tuple[str, ...]] = ("hour", "value")
    window: ClassVar[int] = 6
    default_params: ClassVar[dict[str, Any]] = {"epochs": 2}

    def fit(self, train, val, params, on_epoch):
        mean = train.mean(axis=0)
        for epoch in range(int(params["epochs"])):
            if on_epoch:
                loss = float(np.mean((train - mean) ** 2))
                on_epoch(epoch, {"loss": loss, "val_loss": float(np.mean((val - mean) ** 2))})
        return mean.astype(np.float32)

    def reconstruct(self, model, windows):
        return np.broadcast_to(model, windows.shape).astype(np.float32)

    def export_onnx(self, model, path: Path) -> None:
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        shape = ["batch", self.window, len(self.features)]
        graph = helper.make_graph(
            [
                helper.make_node("Mul", ["windows", "zero"], ["zeros"]),
                helper.make_node("Add", ["zeros", "mean"], ["reconstruction"]),
            ],
            "mean_window",
            [helper.make_tensor_value_info("windows", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, shape)],
            [
                numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
                numpy_helper.from_array(model, "mean"),
            ],
        )
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
