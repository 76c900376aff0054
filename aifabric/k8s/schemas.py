"""The official schemas our manifests are checked against, loaded once per process.

Core kinds come from the Kubernetes OpenAPI v2 document (``kubernetes/swagger.json``), custom
resources from the ``openAPIV3Schema`` of their CRDs (KServe, Strimzi, KEDA, Knative). Both are
rewritten into Draft 4 JSON Schema with the API server's strict field validation: an object
that declares its properties rejects any other field, unless it carries
``x-kubernetes-preserve-unknown-fields``.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import yaml

from aifabric.errors import AifabricError

CRD_DIRS = ("kserve", "strimzi", "keda", "knative")
_REF_PREFIX = "#/definitions/"

# libyaml is ~6x faster on the 39,000-line InferenceService CRD.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

GVK = tuple[str, str, str]  # (group, version, kind); group "" is the core group


class SpecsNotFound(AifabricError, FileNotFoundError):
    """The schema folder (``AIFABRIC_SPECS_DIR`` or ``<repo>/../shared/specs``) is absent."""

    status = 500
    title = "Schemas not found"


def specs_dir() -> Path:
    """``AIFABRIC_SPECS_DIR``, else ``../shared/specs`` beside the source tree's repo root."""
    env = os.environ.get("AIFABRIC_SPECS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "specs"
    if not (path / "kubernetes" / "swagger.json").is_file():
        raise SpecsNotFound(
            f"Kubernetes schemas not found under {path} (need kubernetes/swagger.json); "
            "set AIFABRIC_SPECS_DIR to the specs folder"
        )
    return path


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); ``v1`` → (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


@cache
def core_schemas(root: Path) -> tuple[dict[str, Any], dict[GVK, str]]:
    """All swagger definitions (made strict) and the definition name of each kind."""
    swagger = orjson.loads((root / "kubernetes" / "swagger.json").read_bytes())
    definitions = {name: _strict_v2(name, d) for name, d in swagger["definitions"].items()}
    kinds: dict[GVK, str] = {}
    for name, definition in swagger["definitions"].items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            # A kind listed by several definitions (e.g. DeleteOptions) is not a resource.
            if "metadata" in definition.get("properties", {}):
                kinds[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return definitions, kinds


@cache
def crd_schemas(root: Path) -> dict[GVK, dict[str, Any]]:
    """The strict ``openAPIV3Schema`` of every served version of every CRD under ``root``."""
    out: dict[GVK, dict[str, Any]] = {}
    for sub in CRD_DIRS:
        for path in sorted((root / sub).glob("*.yaml")):
            for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    if not version.get("served", True):
                        continue
                    schema = (version.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
                    if schema is None:
                        continue
                    out[(spec["group"], version["name"], spec["names"]["kind"])] = _strict_v3(schema)
    return out


def schema_for(gvk: GVK, root: Path) -> dict[str, Any] | None:
    """A self-contained Draft 4 schema for ``gvk``, or None when no spec describes the kind."""
    definitions, kinds = core_schemas(root)
    if gvk in kinds:
        return {"$ref": _REF_PREFIX + kinds[gvk], "definitions": definitions}
    crd = crd_schemas(root).get(gvk)
    if crd is None:
        return None
    # The API server checks a custom resource's metadata as ObjectMeta, not by the CRD.
    schema = copy.copy(crd)
    schema["properties"] = dict(crd.get("properties", {}))
    schema["properties"]["metadata"] = {
        "$ref": _REF_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    schema["properties"].setdefault("apiVersion", {"type": "string"})
    schema["properties"].setdefault("kind", {"type": "string"})
    schema["additionalProperties"] = False
    schema["definitions"] = definitions
    return schema


# -- rewriting ----------------------------------------------------------------------------

# Types whose JSON form is not what their swagger "type" says.
_SPECIAL_V2 = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["integer", "string"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"type": "string"},
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": {"type": "string"},
    "io.k8s.apimachinery.pkg.runtime.RawExtension": {},
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": {},
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": {"type": "object"},
}


def _strict_v2(name: str, definition: dict[str, Any]) -> dict[str, Any]:
    if name in _SPECIAL_V2:
        return _SPECIAL_V2[name]
    return _strict_node(definition, v3=False)


def _strict_v3(schema: dict[str, Any]) -> dict[str, Any]:
    return _strict_node(schema, v3=True)


def _strict_node(node: Any, *, v3: bool) -> Any:
    if isinstance(node, list):
        return [_strict_node(item, v3=v3) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: (_strict_node(value, v3=v3) if key != "properties" else _strict_props(value, v3=v3))
        for key, value in node.items()
        if not key.startswith("x-") and key not in ("description", "example", "default", "nullable")
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        if "anyOf" not in out:
            out["type"] = ["integer", "string"]
    if node.get("format") == "int-or-string":
        out.pop("format")
        out["type"] = ["integer", "string"]
    out.pop("format", None)  # formats are advisory in both specs; types are what the server checks
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    if v3 and node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for key in ("apiVersion", "kind"):
            props.setdefault(key, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    return out


def _strict_props(props: dict[str, Any], *, v3: bool) -> dict[str, Any]:
    return {name: _strict_node(schema, v3=v3) for name, schema in props.items()}
