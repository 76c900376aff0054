"""``/datasets``: upload files as immutable versions, list, inspect."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile, status
from pydantic import ValidationError

from aifabric.datasets import service
from aifabric.datasets.loader import LoadOptions
from aifabric.datasets.refs import NAME_PATTERN
from aifabric.datasets.schemas import (
    DatasetCreate,
    DatasetPublic,
    DatasetsPublic,
    DatasetVersionPublic,
)
from aifabric.errors import InvalidRequest
from aifabric.fabric_api.deps import PrincipalDep, SessionDep, StoreDep, TenantDep
from aifabric.fabric_api.problems import PayloadTooLarge, responses
from aifabric.fabric_api.schemas import API_PREFIX, DatasetPreview

router = APIRouter(prefix=f"{API_PREFIX}/datasets", tags=["datasets"])

MAX_UPLOAD_BYTES = 1 << 30
NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="dataset name")]
VersionParam = Annotated[str, Path(pattern=r"^(\d{1,9}|latest)$", description="version number or 'latest'")]


def _json_field(text: str | None, what: str) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}") from None


async def _read(upload: UploadFile, budget: list[int]) -> tuple[str, bytes]:
    data = await upload.read(budget[0] + 1)
    budget[0] -= len(data)
    if budget[0] < 0:
        raise PayloadTooLarge(f"the upload is larger than {MAX_UPLOAD_BYTES} bytes")
    return upload.filename or "upload", data


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetVersionPublic,
    responses=responses(404, 409, 413) | {200: {"description": "the same content is already a version"}},
)
async def upload_dataset(
    response: Response,
    session: SessionDep,
    store: StoreDep,
    principal: PrincipalDep,
    name: Annotated[str, Form(pattern=NAME_PATTERN, examples=["milan-internet"])],
    files: Annotated[list[UploadFile], File(description="files of one format (Milan, CSV, Parquet, JSONL)")],
    labels: Annotated[UploadFile | None, File(description="labels.csv of injected anomalies")] = None,
    description: Annotated[str, Form(max_length=2000)] = "",
    file_format: Annotated[str | None, Form(alias="format", pattern="^(milan|csv|parquet|records)$")] = None,
    options: Annotated[str | None, Form(description="LoadOptions as JSON")] = None,
    lineage: Annotated[str | None, Form(description="lineage as a JSON object")] = None,
) -> DatasetVersionPublic:
    """Validate the files completely and store them as a new, immutable version of dataset ``name``."""
    try:
        opts = LoadOptions.model_validate(_json_field(options, "options") or {})
        if file_format:
            opts = opts.model_copy(update={"format": file_format})
        create = DatasetCreate(
            name=name, description=description, options=opts, lineage=_json_field(lineage, "lineage") or {}
        )
    except ValidationError as exc:
        raise InvalidRequest(f"invalid dataset options: {exc.errors()[0]['msg']}") from None
    budget = [MAX_UPLOAD_BYTES]
    contents = [await _read(f, budget) for f in files]
    label_file = await _read(labels, budget) if labels is not None and labels.filename else None
    from starlette.concurrency import run_in_threadpool

    version = await run_in_threadpool(
        service.onboard,
        session,
        store,
        tenant=principal.tenant,
        create=create,
        files=contents,
        labels=label_file,
        uploaded_by=f"token:{principal.token_id[:8]}",
    )
    if not version.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"{API_PREFIX}/datasets/{version.dataset}/versions/{version.version}"
    return version


@router.get("", response_model=DatasetsPublic, responses=responses())
def list_datasets(session: SessionDep, tenant: TenantDep) -> DatasetsPublic:
    """This tenant's datasets with their latest version."""
    return service.list_datasets(session, tenant=tenant)


@router.get("/{name}", response_model=DatasetPublic, responses=responses(404))
def get_dataset(name: NameParam, session: SessionDep, tenant: TenantDep) -> DatasetPublic:
    """A dataset with every version."""
    return service.get_dataset(session, tenant=tenant, name=name)


@router.get("/{name}/versions", response_model=list[DatasetVersionPublic], responses=responses(404))
def list_versions(name: NameParam, session: SessionDep, tenant: TenantDep) -> list[DatasetVersionPublic]:
    return service.list_versions(session, tenant=tenant, name=name)


def _ref(name: str, version: str) -> str:
    return name if version == "latest" else f"{name}@{int(version)}"


@router.get("/{name}/versions/{version}", response_model=DatasetVersionPublic, responses=responses(404))
def get_version(
    name: NameParam, version: VersionParam, session: SessionDep, tenant: TenantDep
) -> DatasetVersionPublic:
    """One version's metadata: schema, row and series counts, time range, checksum, lineage."""
    return service.get_version(session, tenant=tenant, ref=_ref(name, version))


@router.get("/{name}/versions/{version}/preview", response_model=DatasetPreview, responses=responses(404))
def preview_version(
    name: NameParam,
    version: VersionParam,
    session: SessionDep,
    store: StoreDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> DatasetPreview:
    """The first ``limit`` rows of the version's canonical table."""
    found = service.get_version(session, tenant=tenant, ref=_ref(name, version))
    frame = service.read_version(store, found).head(limit)
    rows = orjson.loads(frame.to_json(orient="records", date_format="iso"))
    return DatasetPreview(
        ref=found.ref, columns=[str(c) for c in frame.columns], rows=rows, row_count=found.row_count
    )
