"""Dataset operations, callable without HTTP: onboard, list, inspect, read.

An upload is validated completely before anything is written. The canonical table is stored as
Parquet at ``s3://<bucket>/datasets/<tenant>/sha256/<checksum>/data.parquet`` (the checksum of
the content, so identical content is stored once) and its metadata becomes one
:class:`DatasetVersionRow`. If writing the metadata fails, the object written for it is removed
again: nothing half-written remains. Uploading content that is already a version of the dataset
returns that version (``created=False``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aifabric.datasets.frame import DatasetSchema, checksum
from aifabric.datasets.loader import Loaded, load_files, load_records
from aifabric.datasets.refs import NAME_PATTERN
from aifabric.datasets.schemas import (
    DatasetCreate,
    DatasetPublic,
    DatasetsPublic,
    DatasetVersionPublic,
)
from aifabric.datasets.tables import DatasetRow, DatasetVersionRow
from aifabric.errors import Conflict, InvalidRequest, NotFound
from aifabric.records import Record
from aifabric.storage import ObjectStore

__all__ = [
    "get_dataset",
    "get_version",
    "list_datasets",
    "list_versions",
    "onboard",
    "onboard_records",
    "read_version",
]


def _version_public(row: DatasetVersionRow, name: str, created: bool = True) -> DatasetVersionPublic:
    return DatasetVersionPublic(
        id=row.id,
        dataset=name,
        version=row.version,
        ref=f"{name}@{row.version}",
        checksum=row.checksum,
        uri=row.uri,
        format=row.format,
        dataset_schema=DatasetSchema.model_validate(row.schema_),
        row_count=row.row_count,
        series_count=row.series_count,
        labelled_rows=row.labelled_rows,
        time_start=row.time_start,
        time_end=row.time_end,
        slot_ms=row.slot_ms,
        source=row.source,
        uploaded_by=row.uploaded_by,
        lineage=row.lineage,
        created_at=row.created_at,
        created=created,
    )


def _dataset_public(row: DatasetRow, with_versions: bool) -> DatasetPublic:
    return DatasetPublic(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        latest_version=row.versions[-1].version if row.versions else None,
        versions=[_version_public(v, row.name) for v in row.versions] if with_versions else [],
    )


def _store(
    session: Session,
    store: ObjectStore,
    *,
    tenant: str,
    create: DatasetCreate,
    loaded: Loaded,
    source: dict[str, Any],
    uploaded_by: str,
) -> DatasetVersionPublic:
    digest = checksum(loaded.frame)
    dataset = session.scalar(
        select(DatasetRow).where(DatasetRow.tenant == tenant, DatasetRow.name == create.name)
    )
    if dataset is None:
        dataset = DatasetRow(tenant=tenant, name=create.name, description=create.description)
        session.add(dataset)
        session.flush()
    existing = session.scalar(
        select(DatasetVersionRow).where(
            DatasetVersionRow.dataset_id == dataset.id, DatasetVersionRow.checksum == digest
        )
    )
    if existing is not None:
        session.commit()
        return _version_public(existing, dataset.name, created=False)

    key = f"datasets/{tenant}/sha256/{digest}/data.parquet"
    wrote = False
    if not store.exists(key):
        buf = io.BytesIO()
        loaded.frame.to_parquet(buf, index=False)
        store.put_bytes(key, buf.getvalue(), content_type="application/vnd.apache.parquet")
        wrote = True
    try:
        number = (
            session.scalar(
                select(func.max(DatasetVersionRow.version)).where(DatasetVersionRow.dataset_id == dataset.id)
            )
            or 0
        ) + 1
        summary = loaded.summary
        row = DatasetVersionRow(
            tenant=tenant,
            dataset_id=dataset.id,
            version=number,
            checksum=digest,
            uri=store.uri(key),
            format=loaded.format,
            schema_=summary.dataset_schema.model_dump(mode="json"),
            row_count=summary.row_count,
            series_count=summary.series_count,
            labelled_rows=summary.labelled_rows,
            time_start=summary.time_start,
            time_end=summary.time_end,
            slot_ms=summary.slot_ms,
            source=source,
            uploaded_by=uploaded_by,
            lineage=create.lineage,
        )
        session.add(row)
        session.commit()
    except IntegrityError:
        session.rollback()
        if wrote:
            store.delete(key)
        raise Conflict(f"dataset {create.name!r} got a new version concurrently; retry the upload") from None
    except BaseException:
        session.rollback()
        if wrote:
            store.delete(key)
        raise
    return _version_public(row, dataset.name)


def onboard(
    session: Session,
    store: ObjectStore,
    *,
    tenant: str,
    create: DatasetCreate,
    files: Sequence[tuple[str, bytes]],
    labels: tuple[str, bytes] | None = None,
    uploaded_by: str = "",
) -> DatasetVersionPublic:
    """Validate ``(name, content)`` files and store them as a new version of dataset ``create.name``.

    Raises:
        DatasetFileError: a refused file (422) naming the file, line and reason.
    """
    loaded = load_files(files, labels=labels, options=create.options)
    source = {"kind": "files", "files": loaded.files, "labels": labels[0] if labels else None}
    return _store(
        session, store, tenant=tenant, create=create, loaded=loaded, source=source, uploaded_by=uploaded_by
    )


def onboard_records(
    session: Session,
    store: ObjectStore,
    *,
    tenant: str,
    create: DatasetCreate,
    records: Iterable[Record],
    source: dict[str, Any],
    uploaded_by: str = "",
) -> DatasetVersionPublic:
    """Store collected records (e.g. a persisted collection stream) as a dataset version.

    ``source`` describes where they came from, e.g. ``{"kind": "collection", "collection": "nwdaf-1",
    "topic": "...", "from": ..., "to": ...}``; one series per record key.
    """
    loaded = load_records(records)
    return _store(
        session, store, tenant=tenant, create=create, loaded=loaded, source=source, uploaded_by=uploaded_by
    )


def _dataset(session: Session, tenant: str, name: str) -> DatasetRow:
    row = session.scalar(select(DatasetRow).where(DatasetRow.tenant == tenant, DatasetRow.name == name))
    if row is None:
        raise NotFound(f"dataset {name!r} does not exist")
    return row


def list_datasets(session: Session, *, tenant: str) -> DatasetsPublic:
    rows = session.scalars(
        select(DatasetRow).where(DatasetRow.tenant == tenant).order_by(DatasetRow.name)
    ).all()
    return DatasetsPublic(data=[_dataset_public(r, with_versions=False) for r in rows], count=len(rows))


def get_dataset(session: Session, *, tenant: str, name: str) -> DatasetPublic:
    return _dataset_public(_dataset(session, tenant, name), with_versions=True)


def list_versions(session: Session, *, tenant: str, name: str) -> list[DatasetVersionPublic]:
    return get_dataset(session, tenant=tenant, name=name).versions


def get_version(session: Session, *, tenant: str, ref: str) -> DatasetVersionPublic:
    """``name@N``, ``name`` (latest version) or a version id."""
    name, _, number = ref.partition("@")
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidRequest(f"{ref!r} is not a dataset reference (name, name@N or a version id)")
    row = session.scalar(select(DatasetRow).where(DatasetRow.tenant == tenant, DatasetRow.name == name))
    if row is None:
        by_id = session.get(DatasetVersionRow, ref)
        if by_id is None or by_id.tenant != tenant:
            raise NotFound(f"dataset version {ref!r} does not exist")
        return _version_public(by_id, by_id.dataset.name)
    if not row.versions:
        raise NotFound(f"dataset {name!r} has no versions")
    if not number:
        return _version_public(row.versions[-1], name)
    if not number.isdigit():
        raise InvalidRequest(f"dataset reference {ref!r}: the version after '@' must be a number")
    for v in row.versions:
        if v.version == int(number):
            return _version_public(v, name)
    raise NotFound(f"dataset {name!r} has no version {number}")


def read_version(store: ObjectStore, version: DatasetVersionPublic) -> pd.DataFrame:
    """The canonical table of a version, read back from S3."""
    prefix = f"s3://{store.bucket}/"
    if not version.uri.startswith(prefix):
        raise InvalidRequest(f"dataset version {version.ref} lives in another bucket: {version.uri}")
    return pd.read_parquet(io.BytesIO(store.get_bytes(version.uri.removeprefix(prefix))))
