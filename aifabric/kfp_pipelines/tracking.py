"""MLflow's REST API over httpx, for the pipeline parts that only create runs, log and register.

Importing ``mlflow`` costs a process about 3 s cold (0.5 to 0.8 s after TensorFlow); the runner
and the steps only need a dozen REST calls, so they speak the documented REST API
(``/api/2.0/mlflow/...``) directly. Run artifacts go through the tracking server's artifact proxy
(``mlflow-artifacts:`` URIs, what the embedded server's ``--serve-artifacts`` hands out) or
straight to S3 for ``s3://`` artifact roots. Only evaluate imports mlflow, to log the MLflow model
(the ONNX flavour with its signature); a local step server imports it while train fits.
"""

from __future__ import annotations

import mimetypes
import time
from pathlib import Path
from typing import Any

import httpx

from aifabric.config import Settings

__all__ = ["MlflowError", "MlflowRest"]


class MlflowError(RuntimeError):
    """An MLflow REST call failed; ``error_code`` is MLflow's (e.g. ``RESOURCE_ALREADY_EXISTS``)."""

    def __init__(self, message: str, error_code: str = "") -> None:
        super().__init__(message)
        self.error_code = error_code


class MlflowRest:
    """The few tracking and registry calls the pipeline makes, against ``settings.mlflow``."""

    def __init__(self, settings: Settings, timeout: float = 60.0) -> None:
        self._settings = settings.resolved()
        self._base = self._settings.mlflow.tracking_uri.rstrip("/")
        self._http = httpx.Client(base_url=self._base, timeout=timeout)
        self._artifact_uris: dict[str, str] = {}  # a run's artifact root never changes

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MlflowRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        response = self._http.request(method, f"/api/2.0/mlflow/{path}", **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"message": response.text[:300]}
            raise MlflowError(
                f"MLflow {path}: HTTP {response.status_code} {body.get('message', '')}",
                body.get("error_code", ""),
            )
        return response.json() if response.content else {}

    # -- tracking -------------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """Get or create the experiment; two runs starting at once may race to create it."""
        for _ in range(2):
            try:
                found = self._call("GET", "experiments/get-by-name", params={"experiment_name": name})
                return found["experiment"]["experiment_id"]
            except MlflowError as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
            try:
                return self._call("POST", "experiments/create", json={"name": name})["experiment_id"]
            except MlflowError as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        raise MlflowError(f"experiment {name!r} could not be created or found")

    def create_run(self, experiment_id: str, run_name: str, tags: dict[str, str]) -> str:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": int(time.time() * 1000),
            "tags": [{"key": k, "value": str(v)} for k, v in tags.items()],
        }
        return self._call("POST", "runs/create", json=body)["run"]["info"]["run_id"]

    def set_terminated(self, run_id: str, status: str) -> None:
        """``status``: ``FINISHED``, ``FAILED`` or ``KILLED``."""
        body = {"run_id": run_id, "status": status, "end_time": int(time.time() * 1000)}
        self._call("POST", "runs/update", json=body)

    def get_run(self, run_id: str) -> dict:
        return self._call("GET", "runs/get", params={"run_id": run_id})["run"]

    def log_batch(
        self,
        run_id: str,
        metrics: dict[str, float] | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
        step: int = 0,
    ) -> None:
        """Metrics, params and tags in one request (MLflow allows 1000 metrics per batch)."""
        now = int(time.time() * 1000)
        body = {
            "run_id": run_id,
            "metrics": [
                {"key": k, "value": float(v), "timestamp": now, "step": step}
                for k, v in (metrics or {}).items()
            ],
            "params": [{"key": k, "value": str(v)} for k, v in (params or {}).items()],
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
        }
        self._call("POST", "runs/log-batch", json=body)

    def artifact_uri(self, run_id: str) -> str:
        """The run's artifact root (asked once per run and client)."""
        if run_id not in self._artifact_uris:
            self._artifact_uris[run_id] = self.get_run(run_id)["info"]["artifact_uri"]
        return self._artifact_uris[run_id]

    def log_artifact(self, run_id: str, local_path: Path, artifact_dir: str) -> None:
        """Upload one file to ``<run artifacts>/<artifact_dir>/<file name>``."""
        root = self.artifact_uri(run_id).rstrip("/")
        self._upload(root, Path(local_path), f"{artifact_dir.strip('/')}/{Path(local_path).name}")

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_dir: str) -> None:
        """Upload every file under ``local_dir`` to ``<run artifacts>/<artifact_dir>/``."""
        root = self.artifact_uri(run_id).rstrip("/")
        local_dir = Path(local_dir)
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            self._upload(root, path, f"{artifact_dir.strip('/')}/{path.relative_to(local_dir).as_posix()}")

    def list_artifacts(self, run_id: str, artifact_dir: str = "") -> list[str]:
        """Names under ``<run artifacts>/<artifact_dir>`` (proxied roots; an ``s3://`` root is listed
        from S3 directly)."""
        root = self.artifact_uri(run_id).rstrip("/")
        if root.startswith("mlflow-artifacts:"):
            response = self._http.get(
                "/api/2.0/mlflow-artifacts/artifacts",
                params={"path": f"{self._proxy_location(root)}/{artifact_dir.strip('/')}".rstrip("/")},
            )
            if response.status_code >= 400:
                raise MlflowError(f"artifact list: HTTP {response.status_code} {response.text[:300]}")
            return [f["path"] for f in response.json().get("files", [])]
        if root.startswith("s3://"):
            from aifabric.storage import ObjectStore

            bucket, _, prefix = root.removeprefix("s3://").partition("/")
            prefix = f"{prefix.rstrip('/')}/{artifact_dir.strip('/')}".strip("/") + "/"
            store = ObjectStore(self._settings, bucket=bucket)
            return [key.removeprefix(prefix) for key in store.list(prefix)]
        raise MlflowError(f"artifact root {root!r}: only mlflow-artifacts: and s3:// are supported")

    @staticmethod
    def _proxy_location(root: str) -> str:
        """``mlflow-artifacts:/path`` or ``mlflow-artifacts://host:port/path`` -> ``path``."""
        location = root.removeprefix("mlflow-artifacts:").lstrip("/")
        if root.startswith("mlflow-artifacts://"):
            location = location.partition("/")[2]
        return location

    def _upload(self, root: str, path: Path, rel: str) -> None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if root.startswith("mlflow-artifacts:"):
            response = self._http.put(
                f"/api/2.0/mlflow-artifacts/artifacts/{self._proxy_location(root)}/{rel}",
                content=path.read_bytes(),
                headers={"Content-Type": content_type},
            )
            if response.status_code >= 400:
                raise MlflowError(f"artifact upload {rel}: HTTP {response.status_code} {response.text[:300]}")
        elif root.startswith("s3://"):
            from aifabric.storage import ObjectStore

            bucket, _, prefix = root.removeprefix("s3://").partition("/")
            key = f"{prefix.rstrip('/')}/{rel}".lstrip("/")
            ObjectStore(self._settings, bucket=bucket).put_bytes(
                key, path.read_bytes(), content_type=content_type
            )
        else:
            raise MlflowError(f"artifact root {root!r}: only mlflow-artifacts: and s3:// are supported")

    # -- registry -------------------------------------------------------------------------------

    def ensure_registered_model(self, name: str) -> None:
        try:
            self._call("POST", "registered-models/create", json={"name": name})
        except MlflowError as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def create_model_version(
        self, name: str, source: str, run_id: str, tags: dict[str, str], model_id: str | None = None
    ) -> dict:
        """A new version of registered model ``name`` (created if missing), as ``mlflow.register_model``
        does for a ``models:/<model_id>`` URI."""
        self.ensure_registered_model(name)
        body: dict[str, Any] = {
            "name": name,
            "source": source,
            "run_id": run_id,
            "tags": [{"key": k, "value": str(v)} for k, v in tags.items()],
        }
        if model_id:
            body["model_id"] = model_id
        return self._call("POST", "model-versions/create", json=body)["model_version"]

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call("POST", "registered-models/alias", json={"name": name, "alias": alias, "version": version})
