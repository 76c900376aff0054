"""Validate Kubernetes objects as ``kubectl apply --validate=strict`` would, without a cluster.

Core kinds are checked against the Kubernetes OpenAPI v2 definitions, custom resources against
their CRD schema; unknown fields, wrong types and missing required fields are violations, and
so is a kind that no spec describes (e.g. a Strimzi ``v1beta2`` object, gone in Strimzi 1.x).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from pydantic import BaseModel, ConfigDict

from aifabric.k8s.schemas import GVK, schema_for, specs_dir, split_api_version


class Violation(BaseModel):
    """One problem with one object; ``path`` is a JSON path inside the object."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} {self.path}: {self.message}"


def validate_object(obj: Any, *, root: Path | None = None) -> list[Violation]:
    """Every schema violation of ``obj`` (empty when it would be accepted)."""
    if not isinstance(obj, dict):
        return [Violation(kind="?", name="?", path="$", message="not a mapping")]
    kind = str(obj.get("kind") or "?")
    meta = obj.get("metadata")
    name = str(meta.get("name") or "?") if isinstance(meta, dict) else "?"
    api_version = obj.get("apiVersion")
    if not isinstance(api_version, str) or not api_version or kind == "?":
        return [Violation(kind=kind, name=name, path="$", message="apiVersion and kind are required")]
    group, version = split_api_version(api_version)
    validator = _validator((group, version, kind), root or specs_dir())
    if validator is None:
        return [Violation(kind=kind, name=name, path="$", message=f"no schema for {api_version} {kind}")]
    out = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaves(error):
            out.append(Violation(kind=kind, name=name, path=leaf.json_path, message=leaf.message))
    return out


def validate_objects(objs: Iterable[Any], *, root: Path | None = None) -> list[Violation]:
    """Violations of all ``objs``, in order."""
    return [v for obj in objs for v in validate_object(obj, root=root)]


@cache
def _validator(gvk: GVK, root: Path) -> Draft4Validator | None:
    schema = schema_for(gvk, root)
    return None if schema is None else Draft4Validator(schema)


def _leaves(error: Any) -> list[Any]:
    """The most specific causes of an ``anyOf``/``oneOf`` failure, else the error itself."""
    if not error.context:
        return [error]
    deepest = max(len(e.absolute_path) for e in error.context)
    return [e for e in error.context if len(e.absolute_path) == deepest][:3]
