"""The predictor: a ``kserve.Model`` that scores windows with a registered model's ONNX bundle.

It serves KServe's V1 (``/v1/models/NAME:predict``, ``{"instances": [window, ...]}``) and V2 / Open
Inference Protocol (``/v2/models/NAME/infer``, one FP32 tensor ``[n, window, features]``) REST
endpoints and answers per window with the reconstruction error, the anomaly probability and the
anomaly flag. onnxruntime replaces TensorFlow (same scores, a fraction of the start-up time), and
nothing here imports TensorFlow or MLflow.

For the Data Consumer's hop it also mounts two routes beside KServe's (JSON dominates the cost of
the public protocols at batch sizes of thousands):

* ``POST /aifabric/models/NAME/score``: body = raw little-endian float32 windows, header
  ``x-shape: n,window,features``; answer = float64 errors, float64 probabilities, uint8 flags;
* ``GET /aifabric/models/NAME/bundle``: the bundle description and the registry version, so a
  transformer needs nothing but the predictor's address to preprocess exactly as trained.

Run: ``python -m aifabric.serving.predictor --model_name NAME --http_port N`` with
``AIFABRIC_MODEL_URI`` (``models:/name/3``, ``models:/name@champion``, ``s3://...`` or a directory).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import HTTPException, Request, Response
from fastapi.responses import FileResponse
from kserve import InferRequest, InferResponse, Model
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferOutput

from aifabric.config import Settings, get_settings
from aifabric.models.bundle import Scorer, ScoringBundle
from aifabric.serving.model_source import ResolvedModel, resolve_model

__all__ = ["OUTPUTS", "AnomalyPredictor", "decode_scores", "encode_scores", "main"]

log = logging.getLogger("aifabric.serving.predictor")

OUTPUTS = ("reconstruction_error", "anomaly_probability", "anomaly")
SCORE_ROUTE = "/aifabric/models/{model_name}/score"
BUNDLE_ROUTE = "/aifabric/models/{model_name}/bundle"
FILE_ROUTE = "/aifabric/models/{model_name}/files/{file_name}"
MAX_WINDOWS = 65536
INLINE_WINDOWS = 64  # smaller batches are scored on the event loop: a thread hop costs more


def encode_scores(errors: np.ndarray, probabilities: np.ndarray, anomalies: np.ndarray) -> bytes:
    """The binary score answer: float64 errors, float64 probabilities, uint8 flags (n each)."""
    return b"".join(
        (
            np.ascontiguousarray(errors, dtype="<f8").tobytes(),
            np.ascontiguousarray(probabilities, dtype="<f8").tobytes(),
            np.ascontiguousarray(anomalies, dtype=np.uint8).tobytes(),
        )
    )


def decode_scores(body: bytes, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_scores`."""
    if len(body) != 17 * n:
        raise ValueError(f"score answer has {len(body)} bytes, expected {17 * n} for {n} windows")
    errors = np.frombuffer(body, dtype="<f8", count=n)
    probs = np.frombuffer(body, dtype="<f8", count=n, offset=8 * n)
    flags = np.frombuffer(body, dtype=np.uint8, count=n, offset=16 * n).astype(bool)
    return errors, probs, flags


def json_body(payload: Any) -> Any:
    """KServe hands a body sent without a JSON content type over as bytes: parse it anyway."""
    if isinstance(payload, bytes | str):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not JSON: {exc}") from None
    return payload


class AnomalyPredictor(Model):
    """Scores windows of one registered model version."""

    def __init__(self, name: str, model_uri: str, settings: Settings | None = None, threads: int = 1) -> None:
        super().__init__(name)
        self.model_uri = model_uri
        self.settings = settings or get_settings()
        self.threads = threads
        self.resolved: ResolvedModel | None = None
        self.scorer: Scorer | None = None

    @property
    def bundle(self) -> ScoringBundle:
        if self.scorer is None:
            raise ModelNotReady(self.name, "the model is not loaded")
        return self.scorer.bundle

    def load(self) -> bool:
        """Fetch the bundle (cached per version) and open it in onnxruntime."""
        self.resolved = resolve_model(self.settings, self.model_uri)
        self.scorer = Scorer.from_dir(self.resolved.directory, threads=self.threads)
        self.ready = True
        log.info(
            "loaded %s version %s from %s", self.resolved.name, self.resolved.version, self.resolved.directory
        )
        return self.ready

    # -- validation --------------------------------------------------------------------------

    def check_windows(self, x: np.ndarray) -> np.ndarray:
        """Refuse an empty batch or a shape other than ``(n, window, features)``; return float32."""
        w, f = self.bundle.window, len(self.bundle.features)
        if x.ndim != 3 or x.shape[1:] != (w, f):
            raise InvalidInput(
                f"expected windows of shape [n, {w}, {f}] (features {', '.join(self.bundle.features)}), "
                f"got {list(x.shape)}"
            )
        if x.shape[0] == 0:
            raise InvalidInput("empty batch: send at least one window")
        if x.shape[0] > MAX_WINDOWS:
            raise InvalidInput(f"{x.shape[0]} windows in one request; at most {MAX_WINDOWS}")
        if not np.all(np.isfinite(x)):
            raise InvalidInput("windows contain NaN or infinite values")
        return np.ascontiguousarray(x, dtype=np.float32)

    def _v1_windows(self, payload: dict | bytes) -> np.ndarray:
        payload = json_body(payload)
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not isinstance(instances, list):
            raise InvalidInput('expected {"instances": [window, ...]} with each window a list of steps')
        if not instances:
            raise InvalidInput("empty batch: send at least one window")
        try:
            x = np.asarray(instances, dtype=np.float32)
        except (TypeError, ValueError):
            raise InvalidInput("instances must be numbers in equally long nested lists") from None
        return self.check_windows(x)

    def _v2_windows(self, request: InferRequest) -> np.ndarray:
        if len(request.inputs) != 1:
            raise InvalidInput(f"expected exactly one input tensor, got {len(request.inputs)}")
        tensor = request.inputs[0]
        if tensor.datatype not in ("FP32", "FP64"):
            raise InvalidInput(f"input {tensor.name!r} must have datatype FP32, got {tensor.datatype}")
        shape = list(tensor.shape)
        if len(shape) != 3:
            raise InvalidInput(f"input {tensor.name!r} must have shape [n, window, features], got {shape}")
        if shape[0] == 0:
            raise InvalidInput("empty batch: send at least one window")
        try:
            x = tensor.as_numpy()
        except ValueError as exc:
            raise InvalidInput(f"input {tensor.name!r}: data does not match shape {shape}: {exc}") from None
        return self.check_windows(x)

    # -- inference ----------------------------------------------------------------------------

    def score(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.scorer is None:
            raise ModelNotReady(self.name, "the model is not loaded")
        out = self.scorer.score(windows)
        return out.errors, out.probabilities, out.anomalies

    async def predict(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> dict | InferResponse:
        """V1 dict -> ``{"predictions": [...]}``; V2 request -> three output tensors of length n."""
        if isinstance(payload, InferRequest):
            errors, probs, flags = self.score(self._v2_windows(payload))
            version = self.resolved.version if self.resolved else ""
            # Parameters are always set: KServe serialises absent ones as null, which the OIP refuses.
            outputs = []
            types = ("FP64", "FP64", "BOOL")
            for name, data, dtype in zip(OUTPUTS, (errors, probs, flags), types, strict=True):
                out = InferOutput(name=name, shape=[len(data)], datatype=dtype, parameters={"per": "window"})
                out.set_data_from_numpy(np.asarray(data), binary_data=False)
                outputs.append(out)
            return InferResponse(
                response_id=payload.id or "",
                model_name=self.name,
                model_version=version,
                infer_outputs=outputs,
                parameters={"threshold": self.bundle.threshold, "registered_version": version},
            )
        errors, probs, flags = self.score(self._v1_windows(payload))
        return {
            "predictions": [
                {"reconstruction_error": float(e), "anomaly_probability": float(p), "anomaly": bool(a)}
                for e, p, a in zip(errors, probs, flags, strict=True)
            ]
        }

    def get_input_types(self) -> list[dict]:
        if self.scorer is None:
            return []
        return [
            {
                "name": self.bundle.input_name,
                "datatype": "FP32",
                "shape": [-1, self.bundle.window, len(self.bundle.features)],
            }
        ]

    def get_output_types(self) -> list[dict]:
        return [
            {"name": "reconstruction_error", "datatype": "FP64", "shape": [-1]},
            {"name": "anomaly_probability", "datatype": "FP64", "shape": [-1]},
            {"name": "anomaly", "datatype": "BOOL", "shape": [-1]},
        ]

    def bundle_info(self) -> dict[str, Any]:
        if self.resolved is None:
            raise ModelNotReady(self.name, "the model is not loaded")
        return {
            "model_name": self.resolved.model_name,
            "model_version": self.resolved.version,
            "model_uri": self.model_uri,
            "bundle": self.bundle.model_dump(mode="json"),
        }


def mount_routes(app: Any, model: AnomalyPredictor) -> None:
    """Add the binary score and bundle routes to KServe's FastAPI app."""

    def _check(model_name: str) -> None:
        if model_name != model.name:
            raise HTTPException(404, f"model {model_name!r} is not served here (this is {model.name!r})")
        if not model.ready:
            raise HTTPException(503, f"model {model.name!r} is not ready")

    async def score(model_name: str, request: Request) -> Response:
        _check(model_name)
        try:
            shape = tuple(int(v) for v in request.headers.get("x-shape", "").split(","))
        except ValueError:
            raise HTTPException(400, "header x-shape must be 'n,window,features'") from None
        body = await request.body()
        if len(shape) != 3 or np.prod(shape) * 4 != len(body):
            raise HTTPException(
                400, f"body of {len(body)} bytes does not hold float32 windows of shape {shape}"
            )
        x = np.frombuffer(body, dtype="<f4").reshape(shape)
        try:
            x = model.check_windows(x)
        except InvalidInput as exc:
            raise HTTPException(400, str(exc)) from None
        if len(x) <= INLINE_WINDOWS:
            errors, probs, flags = model.score(x)
        else:  # keep the loop (health probes, other requests) responsive during a large batch
            errors, probs, flags = await asyncio.get_running_loop().run_in_executor(None, model.score, x)
        return Response(encode_scores(errors, probs, flags), media_type="application/octet-stream")

    async def bundle(model_name: str) -> dict:
        _check(model_name)
        return model.bundle_info()

    async def bundle_file(model_name: str, file_name: str) -> FileResponse:
        _check(model_name)
        if file_name != model.bundle.definition_file or model.resolved is None:
            raise HTTPException(404, f"{file_name!r} is not the bundle's definition file")
        return FileResponse(Path(model.resolved.directory) / file_name)

    app.add_api_route(SCORE_ROUTE, score, methods=["POST"])
    app.add_api_route(BUNDLE_ROUTE, bundle, methods=["GET"])
    app.add_api_route(FILE_ROUTE, bundle_file, methods=["GET"])


def main(argv: list[str] | None = None) -> None:
    from kserve import model_server

    from aifabric.serving.server import serve_models

    parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__.split("\n")[0])
    parser.add_argument("--model_uri", default=os.environ.get("AIFABRIC_MODEL_URI", ""))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("AIFABRIC_PREDICTOR_THREADS", "1")))
    args, _ = parser.parse_known_args(argv)
    if not args.model_uri:
        parser.error("set AIFABRIC_MODEL_URI or --model_uri")
    model = AnomalyPredictor(args.model_name, args.model_uri, threads=args.threads)
    model.load()
    mount_routes(model_server.app, model)
    serve_models([model], args.http_port)


if __name__ == "__main__":
    main()
