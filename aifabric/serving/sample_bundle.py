"""A small scoring bundle built without TensorFlow, for tests, benchmarks and demos.

The "autoencoder" is a fixed linear map per step (a damped identity), written as a one-node ONNX
graph; the bundle uses the LSTM-AE definition's features and preprocessing, so everything around
the model (featurize, scaler, windows, calibration) is exactly what a trained bundle does. Needs
the ``onnx`` package (a test/train extra), imported on call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aifabric.models.bundle import ScoringBundle
from aifabric.models.calibration import Calibration

__all__ = ["write_sample_bundle"]


def write_sample_bundle(
    directory: Path,
    *,
    model_name: str = "sample",
    window: int = 12,
    damping: float = 0.8,
    threshold: float = 0.99,
) -> Path:
    """Write ``bundle.json`` and ``model.onnx`` into ``directory`` and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features = ["weekday", "hour", "minute", "value"]
    f = len(features)
    weight = (np.eye(f) * damping).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["windows", "W"], ["reconstruction"])],
        "linear_ae",
        [helper.make_tensor_value_info("windows", TensorProto.FLOAT, [None, window, f])],
        [helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, [None, window, f])],
        [numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "model.onnx"))
    # Error of a standard-normal window under this map: (1 - damping)^2 on average.
    typical = (1.0 - damping) ** 2
    bundle = ScoringBundle(
        model_name=model_name,
        definition="lstm_ae",
        features=features,
        window=window,
        scaler_mean=[3.0, 11.5, 30.0, 100.0],
        scaler_scale=[2.0, 6.9, 17.3, 30.0],
        calibration=Calibration(mu=float(np.log(typical)), sigma=0.5, n=1000),
        threshold=threshold,
        input_name="windows",
        output_name="reconstruction",
    )
    bundle.save(directory)
    return directory
