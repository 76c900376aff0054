"""Onboarded model definitions: a user's Python module, checked, stored in S3, listed in SQL.

The module is validated in a separate interpreter (it is user code: importing it must not run in
the API process) which loads it with :func:`aifabric.models.registry.load_definition_file` and
reports the class, features and window. The file is stored content-addressed at
``s3://<bucket>/definitions/<tenant>/<sha256>/<file name>``; training passes that URI to the
pipeline, which copies the file into the scoring bundle, so serving runs the very same code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from aifabric.errors import InvalidRequest, NotFound
from aifabric.models.registry import DEFINITION_CLASS_FOR_NAME
from aifabric.persistence.db import Base, TenantMixin, TimestampMixin
from aifabric.storage import ObjectStore

__all__ = [
    "DefinitionPublic",
    "ModelDefinitionRow",
    "get_definition",
    "list_definitions",
    "onboard_definition",
    "resolve_definition",
]

MAX_SOURCE_BYTES = 1_000_000
VALIDATE_TIMEOUT_S = 60.0


class ModelDefinitionRow(TenantMixin, TimestampMixin, Base):
    __tablename__ = "model_definitions"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_model_definitions_tenant_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    name: Mapped[str] = mapped_column(String(128))
    class_path: Mapped[str] = mapped_column(String(256))
    uri: Mapped[str] = mapped_column(String(512))
    checksum: Mapped[str] = mapped_column(String(64))
    features: Mapped[list[str]] = mapped_column(JSON)
    window: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str] = mapped_column(String(128), default="")


class DefinitionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="the definition's ``name`` class attribute; what training takes")
    class_path: str
    uri: str
    checksum: str
    features: list[str]
    window: int
    uploaded_by: str


_VALIDATOR = """
import json, sys
from pathlib import Path
from aifabric.errors import AifabricError
from aifabric.models.registry import load_definition_file
try:
    cls = load_definition_file(Path(sys.argv[1]), sys.argv[2] or None)
except AifabricError as exc:
    print(json.dumps({"error": exc.detail}))
    sys.exit(0)
info = {"name": cls.name, "class": cls.__name__, "features": list(cls.features), "window": cls.window}
print(json.dumps(info))
"""


def _validate(filename: str, source: bytes, class_name: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(source)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _VALIDATOR, str(path), class_name or ""],
                capture_output=True,
                text=True,
                timeout=VALIDATE_TIMEOUT_S,
                env=env,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired:
            raise InvalidRequest(
                f"{filename}: importing it took longer than {VALIDATE_TIMEOUT_S:.0f}s"
            ) from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvalidRequest(f"{filename}: cannot be loaded as a model definition: {tail[:300]}")
    info = json.loads(lines[-1])
    if "error" in info:
        raise InvalidRequest(info["error"])
    return info


def onboard_definition(
    session: Session,
    store: ObjectStore,
    *,
    tenant: str,
    filename: str,
    source: bytes,
    class_name: str | None = None,
    uploaded_by: str = "",
) -> DefinitionPublic:
    """Check and store a user's definition module; a later upload of the same name replaces it."""
    if not filename.endswith(".py") or not Path(filename).stem.isidentifier():
        raise InvalidRequest(f"{filename!r}: a definition must be a Python module named like 'my_model.py'")
    if not source.strip():
        raise InvalidRequest(f"{filename}: file is empty")
    if len(source) > MAX_SOURCE_BYTES:
        raise InvalidRequest(f"{filename}: larger than {MAX_SOURCE_BYTES} bytes")
    info = _validate(filename, source, class_name)
    if info["name"] in DEFINITION_CLASS_FOR_NAME:
        raise InvalidRequest(f"definition name {info['name']!r} is built in; choose another 'name'")
    digest = hashlib.sha256(source).hexdigest()
    uri = store.put_bytes(f"definitions/{tenant}/{digest}/{filename}", source, content_type="text/x-python")
    row = session.scalar(
        select(ModelDefinitionRow).where(
            ModelDefinitionRow.tenant == tenant, ModelDefinitionRow.name == info["name"]
        )
    )
    if row is None:
        row = ModelDefinitionRow(tenant=tenant, name=info["name"])
        session.add(row)
    row.class_path = f"{Path(filename).stem}:{info['class']}"
    row.uri, row.checksum = uri, digest
    row.features, row.window = info["features"], info["window"]
    row.uploaded_by = uploaded_by
    session.commit()
    return DefinitionPublic.model_validate(row)


def list_definitions(session: Session, *, tenant: str) -> list[DefinitionPublic]:
    rows = session.scalars(
        select(ModelDefinitionRow)
        .where(ModelDefinitionRow.tenant == tenant)
        .order_by(ModelDefinitionRow.name)
    )
    return [DefinitionPublic.model_validate(r) for r in rows]


def get_definition(session: Session, *, tenant: str, name: str) -> DefinitionPublic:
    row = session.scalar(
        select(ModelDefinitionRow).where(ModelDefinitionRow.tenant == tenant, ModelDefinitionRow.name == name)
    )
    if row is None:
        raise NotFound(f"model definition {name!r} does not exist")
    return DefinitionPublic.model_validate(row)


def resolve_definition(session: Session, *, tenant: str, name: str) -> tuple[str, str | None]:
    """``(definition, definition_uri)`` for the pipeline: built-in/installed paths pass through,
    an onboarded name becomes its class path and S3 URI."""
    if name in DEFINITION_CLASS_FOR_NAME or ":" in name:
        return name, None
    found = get_definition(session, tenant=tenant, name=name)
    return found.class_path, found.uri
