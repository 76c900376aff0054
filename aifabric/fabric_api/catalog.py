"""The model catalog: registered models and versions of one tenant, read from the MLflow registry.

MLflow's registry has no tenants, so a tenant's model ``NAME`` is registered as ``<tenant>.NAME``
(:mod:`aifabric.registered_names`): version numbers and aliases are the tenant's own. Versions also
carry a ``tenant`` tag (set by the training pipeline's register step); a version is shown only when
both agree, so a version registered by hand under another tenant's prefix stays hidden. The REST
API is used directly (no ``import mlflow`` in the API process); the input schema comes from the version's
``bundle.json`` in S3, the lineage from the tags the register step wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from aifabric.config import Settings
from aifabric.errors import InvalidRequest, NotFound, Unavailable
from aifabric.registered_names import registry_name, split_registry_name

__all__ = [
    "InputSchema",
    "ModelVersionPublic",
    "RegisteredModelPublic",
    "RegisteredModelsPublic",
    "best_version",
    "get_model",
    "get_version",
    "list_models",
]

MAX_RESULTS = 1000
METRIC_PREFIXES = ("eval.", "baseline.", "train_seconds")


class InputSchema(BaseModel):
    """What the model scores: per-step features over a window of ``window`` points of one series."""

    features: list[str]
    window: int
    timezone: str
    threshold: float


class ModelVersionPublic(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    status: str = Field(description="MLflow registration status, e.g. READY")
    created_at: datetime | None
    aliases: list[str]
    run_id: str | None
    dataset_version: str | None = Field(None, description="lineage: the dataset version it was trained on")
    dataset_version_id: str | None = None
    definition: str | None = None
    gate: str | None = Field(None, description="passed | failed: the evaluation gate of the alias")
    bundle_uri: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict, description="eval.* (and baseline.*) metrics")
    input_schema: InputSchema | None = Field(None, description="only on the single-version view")
    tags: dict[str, str] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)


class RegisteredModelPublic(BaseModel):
    name: str
    aliases: dict[str, str] = Field(description="alias -> version (only versions of this tenant)")
    latest_version: str | None
    versions: list[ModelVersionPublic]
    links: dict[str, str] = Field(default_factory=dict)


class RegisteredModelsPublic(BaseModel):
    data: list[RegisteredModelPublic]
    count: int


class _Registry:
    """A few registry REST calls with our errors."""

    def __init__(self, settings: Settings) -> None:
        self.ui = settings.mlflow.tracking_uri.rstrip("/")
        self.base = f"{self.ui}/api/2.0/mlflow"

    def get(self, path: str, **params: Any) -> dict[str, Any] | None:
        try:
            resp = httpx.get(f"{self.base}/{path}", params=params, timeout=15.0)
        except httpx.HTTPError as exc:
            raise Unavailable(f"MLflow at {self.ui} does not answer: {exc}") from None
        if resp.status_code in (400, 404):
            return None
        if resp.status_code != 200:
            raise Unavailable(f"MLflow answered {resp.status_code} for {path}")
        return orjson.loads(resp.content)

    def versions(self, name: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        """Versions of one registered model, or of every model of ``tenant``."""
        params: dict[str, Any] = {"max_results": MAX_RESULTS}
        if name is not None:
            params["filter"] = f"name = '{name}'"
        elif tenant is not None:
            params["filter"] = f"name LIKE '{registry_name(tenant, '%')}'"
        found = self.get("model-versions/search", **params) or {}
        return found.get("model_versions", [])

    def aliases(self, name: str) -> dict[str, str]:
        found = self.get("registered-models/get", name=name) or {}
        rm = found.get("registered_model", {})
        return {a["alias"]: str(a["version"]) for a in rm.get("aliases", [])}

    def run_metrics(self, run_id: str) -> dict[str, float]:
        found = self.get("runs/get", run_id=run_id) or {}
        metrics = found.get("run", {}).get("data", {}).get("metrics", [])
        return {m["key"]: float(m["value"]) for m in metrics if m["key"].startswith(METRIC_PREFIXES)}


def _tags(mv: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in mv.get("tags", [])}


def _visible(mv: dict[str, Any], tenant: str) -> bool:
    owner = split_registry_name(mv["name"])
    return owner is not None and owner[0] == tenant and _tags(mv).get("tenant") == tenant


def _public(registered: str) -> str:
    owner = split_registry_name(registered)
    return owner[1] if owner else registered


def _check_name(name: str) -> None:
    if "'" in name or not name.strip():
        raise InvalidRequest(f"invalid model name {name!r}")


def _version(
    reg: _Registry, mv: dict[str, Any], aliases: dict[str, str], metrics: bool
) -> ModelVersionPublic:
    tags = _tags(mv)
    registered, version = mv["name"], str(mv["version"])
    run_id = mv.get("run_id") or tags.get("run_id") or None
    values: dict[str, float] = {}
    if metrics and run_id:
        values = reg.run_metrics(run_id)
    if not values:  # the register step also copies the headline metrics into version tags
        for key, value in tags.items():
            if key.startswith("eval."):
                try:
                    values[key] = float(value)
                except ValueError:
                    continue
    created = mv.get("creation_timestamp")
    return ModelVersionPublic(
        name=_public(registered),
        version=version,
        status=mv.get("status", ""),
        created_at=datetime.fromtimestamp(int(created) / 1000, UTC) if created else None,
        aliases=sorted(a for a, v in aliases.items() if v == version),
        run_id=run_id,
        dataset_version=tags.get("dataset_version"),
        dataset_version_id=tags.get("dataset_version_id"),
        definition=tags.get("definition"),
        gate=tags.get("gate"),
        bundle_uri=tags.get("bundle_uri"),
        metrics=values,
        tags={k: v for k, v in tags.items() if k != "tenant"},
        links={"mlflow_ui": f"{reg.ui}/#/models/{registered}/versions/{version}"},
    )


def _model(reg: _Registry, name: str, tenant: str, metrics: bool) -> RegisteredModelPublic | None:
    registered = registry_name(tenant, name)
    mine = [mv for mv in reg.versions(registered) if mv["name"] == registered and _visible(mv, tenant)]
    if not mine:
        return None
    mine.sort(key=lambda mv: int(mv["version"]))
    numbers = {str(mv["version"]) for mv in mine}
    aliases = {a: v for a, v in reg.aliases(registered).items() if v in numbers}
    return RegisteredModelPublic(
        name=name,
        aliases=aliases,
        latest_version=str(mine[-1]["version"]),
        versions=[_version(reg, mv, aliases, metrics) for mv in mine],
        links={"mlflow_ui": f"{reg.ui}/#/models/{registered}"},
    )


def list_models(settings: Settings, *, tenant: str) -> RegisteredModelsPublic:
    """Every registered model with at least one version of ``tenant`` (versions without run metrics)."""
    reg = _Registry(settings)
    names = sorted({_public(mv["name"]) for mv in reg.versions(tenant=tenant) if _visible(mv, tenant)})
    data = [m for n in names if (m := _model(reg, n, tenant, metrics=False)) is not None]
    return RegisteredModelsPublic(data=data, count=len(data))


def get_model(settings: Settings, *, tenant: str, name: str) -> RegisteredModelPublic:
    """One registered model: the tenant's versions with metrics, aliases and lineage."""
    _check_name(name)
    found = _model(_Registry(settings), name, tenant, metrics=True)
    if found is None:
        raise NotFound(f"registered model {name!r} does not exist")
    return found


def get_version(settings: Settings, *, tenant: str, name: str, version: str) -> ModelVersionPublic:
    """One version, by number or by alias, with its input schema read from the scoring bundle."""
    model = get_model(settings, tenant=tenant, name=name)
    number = model.aliases.get(version, version)
    for v in model.versions:
        if v.version == number:
            return v.model_copy(update={"input_schema": _input_schema(settings, v.bundle_uri)})
    raise NotFound(f"model {name!r} has no version or alias {version!r}")


def best_version(
    settings: Settings, *, tenant: str, name: str, metric: str = "eval.roc_auc"
) -> ModelVersionPublic:
    """The version with the highest ``metric``; versions that passed the gate come first."""
    model = get_model(settings, tenant=tenant, name=name)
    scored = [v for v in model.versions if metric in v.metrics]
    if not scored:
        raise NotFound(f"no version of {name!r} has the metric {metric!r}")
    best = max(scored, key=lambda v: (v.gate != "failed", v.metrics[metric], int(v.version)))
    return get_version(settings, tenant=tenant, name=name, version=best.version)


def _input_schema(settings: Settings, bundle_uri: str | None) -> InputSchema | None:
    from aifabric.models.bundle import BUNDLE_FILE
    from aifabric.storage import ObjectStore

    if not bundle_uri or not bundle_uri.startswith("s3://"):
        return None
    bucket, _, prefix = bundle_uri.removeprefix("s3://").partition("/")
    try:
        meta = orjson.loads(
            ObjectStore(settings, bucket=bucket).get_bytes(f"{prefix.rstrip('/')}/{BUNDLE_FILE}")
        )
    except (NotFound, Unavailable, orjson.JSONDecodeError):
        return None
    return InputSchema(
        features=meta.get("features", []),
        window=int(meta.get("window", 0)),
        timezone=meta.get("timezone", "UTC"),
        threshold=float(meta.get("threshold", 0.0)),
    )
