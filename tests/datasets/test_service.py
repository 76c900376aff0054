"""Dataset versions: content-addressed in S3 (SeaweedFS), metadata in SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets

import pytest

from aifabric.datasets import service
from aifabric.datasets.errors import DatasetFileError
from aifabric.datasets.milan_generator import GeneratorConfig, generate
from aifabric.datasets.schemas import DatasetCreate
from aifabric.datasets.tables import DatasetRow, DatasetVersionRow
from aifabric.errors import InvalidRequest, NotFound
from aifabric.persistence import init_db, make_engine, session_factory
from aifabric.storage import ObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture
def session(sql_url):
    engine = make_engine(sql_url)
    init_db(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    report = generate(
        tmp_path_factory.mktemp("gen"), GeneratorConfig(squares=2, days=2, anomaly_rate=1.0, seed=4)
    )
    return [(f.name, f.read_bytes()) for f in report.files], (
        report.labels_file.name,
        report.labels_file.read_bytes(),
    )


def _count(session, model) -> int:
    return session.query(model).count()


def test_onboard_list_show_and_content_addressing(stack, session, files):
    store = ObjectStore(stack)
    name = "milan-" + secrets.token_hex(3)
    day_files, labels = files
    v1 = service.onboard(
        session,
        store,
        tenant="t1",
        create=DatasetCreate(name=name),
        files=day_files,
        labels=labels,
        uploaded_by="alice",
    )
    assert (v1.version, v1.ref, v1.created) == (1, f"{name}@1", True)
    assert v1.row_count == 2 * 2 * 144 and v1.series_count == 2
    assert v1.labelled_rows > 0 and v1.dataset_schema.has_labels
    assert v1.dataset_schema.default_metric == "internet" and v1.dataset_schema.timezone == "Europe/Rome"
    assert v1.time_start.isoformat().startswith("2013-10-31T23:00") and v1.slot_ms == 600_000
    assert v1.uploaded_by == "alice" and v1.source["files"] == [n for n, _ in day_files]
    assert v1.uri == f"s3://{store.bucket}/datasets/t1/sha256/{v1.checksum}/data.parquet"
    assert store.exists(v1.uri.removeprefix(f"s3://{store.bucket}/"))
    frame = service.read_version(store, v1)
    assert len(frame) == v1.row_count and int(frame["label"].sum()) == v1.labelled_rows

    again = service.onboard(
        session, store, tenant="t1", create=DatasetCreate(name=name), files=day_files, labels=labels
    )
    assert (again.id, again.created) == (v1.id, False)

    v2 = service.onboard(session, store, tenant="t1", create=DatasetCreate(name=name), files=day_files[:1])
    assert v2.version == 2 and v2.checksum != v1.checksum
    assert service.get_version(session, tenant="t1", ref=name).id == v2.id
    assert service.get_version(session, tenant="t1", ref=f"{name}@1").id == v1.id
    assert service.get_version(session, tenant="t1", ref=v1.id).version == 1
    assert [v.version for v in service.list_versions(session, tenant="t1", name=name)] == [1, 2]
    assert name in [d.name for d in service.list_datasets(session, tenant="t1").data]

    with pytest.raises(NotFound):
        service.get_version(session, tenant="other", ref=f"{name}@1")
    assert name not in [d.name for d in service.list_datasets(session, tenant="other").data]
    with pytest.raises(NotFound, match="no version 9"):
        service.get_version(session, tenant="t1", ref=f"{name}@9")
    with pytest.raises(InvalidRequest, match="must be a number"):
        service.get_version(session, tenant="t1", ref=f"{name}@x")
    with pytest.raises(InvalidRequest, match="not a dataset reference"):  # SQL drivers refuse NUL
        service.get_version(session, tenant="t1", ref=f"{name}\x00@1")


def test_bad_upload_leaves_nothing_behind(stack, session, files):
    store = ObjectStore(stack)
    before = (
        _count(session, DatasetRow),
        _count(session, DatasetVersionRow),
        len(list(store.list("datasets/t2/"))),
    )
    head = b"".join(files[0][0][1].splitlines(keepends=True)[:5])
    bad = head + b"1\t1383260400000\t39\t1\t2\t3\t4\tNaNa\n"
    with pytest.raises(DatasetFileError, match="internet is not a number"):
        service.onboard(
            session, store, tenant="t2", create=DatasetCreate(name="broken"), files=[(files[0][0][0], bad)]
        )
    session.rollback()
    after = (
        _count(session, DatasetRow),
        _count(session, DatasetVersionRow),
        len(list(store.list("datasets/t2/"))),
    )
    assert after == before


def test_failed_metadata_write_removes_the_object(stack, session, files, monkeypatch):
    """If SQL refuses the version, the Parquet object written for it is deleted again."""
    store = ObjectStore(stack)
    name = "rollback-" + secrets.token_hex(3)

    def fail_commit():
        raise RuntimeError("database went away")

    monkeypatch.setattr(session, "commit", fail_commit)
    with pytest.raises(RuntimeError, match="went away"):
        service.onboard(session, store, tenant="t3", create=DatasetCreate(name=name), files=files[0][:1])
    monkeypatch.undo()
    session.rollback()
    assert list(store.list("datasets/t3/")) == []
