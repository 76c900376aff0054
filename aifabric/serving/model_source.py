"""Resolve a model URI to a local scoring-bundle directory, without importing MLflow.

The predictor must start fast, and ``import mlflow`` alone costs seconds, so registry look-ups go
straight to MLflow's REST API with httpx and the bundle comes straight from S3 with
:class:`aifabric.storage.ObjectStore`. Accepted URIs:

* ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``: the model version's ``bundle_uri`` tag;
* ``s3://bucket/prefix``: a bundle directory in S3;
* a local directory holding ``bundle.json``.

Downloads are cached per model version under ``<data_dir>/serving/cache`` (written to a temporary
directory and renamed, so a concurrent reader never sees half a bundle). A pinned
``models:/NAME/VERSION`` whose bundle is in the cache is served without asking the registry again:
a registered version's bundle never changes, and each start of a deployment saves a round trip.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from aifabric.config import Settings
from aifabric.errors import InvalidRequest, NotFound, Unavailable
from aifabric.registered_names import split_registry_name

__all__ = ["ResolvedModel", "parse_model_uri", "resolve_model", "resolve_version"]

BUNDLE_FILE = "bundle.json"
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_.-]+))$")


class ResolvedModel(BaseModel):
    """A model URI pinned to one registry version and its local bundle directory."""

    uri: str
    name: str
    version: str
    bundle_uri: str
    directory: Path

    @property
    def model_name(self) -> str:
        """The name users know: a registry name ``<tenant>.<name>`` without its tenant."""
        owner = split_registry_name(self.name) if self.uri.startswith("models:/") else None
        return owner[1] if owner else self.name


class RegistryVersion(BaseModel):
    name: str
    version: str
    bundle_uri: str


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` -> (name, version, alias)."""
    m = _MODELS_URI.match(uri)
    if not m:
        raise InvalidRequest(f"model URI {uri!r} is not models:/NAME/VERSION or models:/NAME@ALIAS")
    return m["name"], m["version"], m["alias"]


def resolve_version(
    settings: Settings, name: str, version: str | None = None, alias: str | None = None
) -> RegistryVersion:
    """Ask the MLflow registry (REST) for a version by number or alias and read its ``bundle_uri`` tag."""
    base = settings.resolved().mlflow.tracking_uri.rstrip("/")
    if alias:
        url, params = f"{base}/api/2.0/mlflow/registered-models/alias", {"name": name, "alias": alias}
        what = f"{name}@{alias}"
    else:
        url, params = f"{base}/api/2.0/mlflow/model-versions/get", {"name": name, "version": version}
        what = f"{name}/{version}"
    try:
        resp = httpx.get(url, params=params, timeout=10.0)
    except httpx.HTTPError as exc:
        raise Unavailable(f"MLflow at {base} does not answer: {exc}") from None
    if resp.status_code in (400, 404):
        raise NotFound(f"model version {what} is not in the registry")
    if resp.status_code != 200:
        raise Unavailable(f"MLflow answered {resp.status_code} for {what}")
    mv = resp.json()["model_version"]
    tags = {t["key"]: t.get("value", "") for t in mv.get("tags", [])}
    if not tags.get("bundle_uri"):
        raise InvalidRequest(f"model version {what} has no bundle_uri tag (was it registered by aifabric?)")
    return RegistryVersion(name=mv["name"], version=str(mv["version"]), bundle_uri=tags["bundle_uri"])


def _download_s3(settings: Settings, uri: str, target: Path) -> None:
    from aifabric.storage import ObjectStore

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.rstrip("/") + "/"
    store = ObjectStore(settings, bucket=bucket)
    try:
        keys = list(store.list(prefix))
    except Exception as exc:  # minio raises S3Error/urllib3 errors for a missing bucket or endpoint
        raise Unavailable(f"cannot list {uri}: {exc}") from None
    if prefix + BUNDLE_FILE not in keys:
        raise NotFound(f"no scoring bundle at {uri} ({BUNDLE_FILE} missing)")
    for key in keys:
        dest = target / key[len(prefix) :]
        dest.parent.mkdir(parents=True, exist_ok=True)
        store.fget(key, dest)


def _cache_dir(settings: Settings, name: str, version: str) -> Path:
    return settings.data_dir / "serving" / "cache" / re.sub(r"[^A-Za-z0-9._-]", "_", name) / version


def _fetch(settings: Settings, bundle_uri: str, cache: Path) -> Path:
    """Download ``bundle_uri`` into ``cache`` once (atomic rename)."""
    if (cache / BUNDLE_FILE).exists():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=cache.parent))
    try:
        _download_s3(settings, bundle_uri, tmp)
        try:
            tmp.rename(cache)
        except OSError:  # another process won the race: keep theirs
            if not (cache / BUNDLE_FILE).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache


def resolve_model(settings: Settings, uri: str) -> ResolvedModel:
    """Turn any accepted model URI into a local bundle directory (downloading it once)."""
    if uri.startswith("models:/"):
        name, version, alias = parse_model_uri(uri)
        if version is not None:
            cached = _cache_dir(settings, name, version)
            if (cached / BUNDLE_FILE).exists():
                return ResolvedModel(uri=uri, name=name, version=version, bundle_uri=uri, directory=cached)
        rv = resolve_version(settings, name, version, alias)
        if not rv.bundle_uri.startswith("s3://"):
            raise InvalidRequest(f"bundle_uri {rv.bundle_uri!r} of {name}/{rv.version} is not an s3:// URI")
        directory = _fetch(settings, rv.bundle_uri, _cache_dir(settings, rv.name, rv.version))
        return ResolvedModel(
            uri=uri, name=rv.name, version=rv.version, bundle_uri=rv.bundle_uri, directory=directory
        )
    if uri.startswith("s3://"):
        key = quote(uri.removeprefix("s3://"), safe="")
        directory = _fetch(settings, uri, settings.data_dir / "serving" / "cache" / "_s3" / key)
        return _unregistered(uri, directory)
    path = Path(uri.removeprefix("file://")).expanduser()
    if not (path / BUNDLE_FILE).is_file():
        raise NotFound(f"{uri!r} is not a models:/ URI, an s3:// URI or a directory with {BUNDLE_FILE}")
    return _unregistered(uri, path.resolve())


def _unregistered(uri: str, directory: Path) -> ResolvedModel:
    """A bundle outside the registry: its name comes from bundle.json, its version is ``0``."""
    import orjson

    meta = orjson.loads((directory / BUNDLE_FILE).read_bytes())
    return ResolvedModel(
        uri=uri, name=meta.get("model_name", "model"), version="0", bundle_uri=uri, directory=directory
    )
