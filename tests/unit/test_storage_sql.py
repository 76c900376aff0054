"""S3 through the minio client against SeaweedFS; SQL on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from aifabric.errors import NotFound
from aifabric.persistence import Base, make_engine, session_factory
from aifabric.persistence.migrate import current, upgrade
from aifabric.storage import ObjectStore


@pytest.mark.integration
def test_object_store_round_trip(stack) -> None:
    store = ObjectStore(stack)
    key = "tests/hello.bin"
    uri = store.put_bytes(key, b"\x00hello")
    assert uri == f"s3://{stack.s3.bucket}/{key}"
    assert store.exists(key) and store.get_bytes(key) == b"\x00hello"
    assert key in list(store.list("tests/"))
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(NotFound):
        store.get_bytes(key)


@pytest.mark.integration
def test_s3_refuses_anonymous_and_wrong_credentials(stack) -> None:
    import httpx

    assert httpx.get(f"{stack.s3.endpoint}/{stack.s3.bucket}/").status_code == 403
    bad = stack.model_copy(deep=True)
    bad.s3.secret_key = type(bad.s3.secret_key)("wrong-secret")
    from minio.error import S3Error

    with pytest.raises(S3Error):
        ObjectStore(bad).put_bytes("tests/x", b"x")


class _Probe(Base):
    __tablename__ = "test_probe"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))


def test_sql_backends_migrate_and_round_trip(sql_url: str) -> None:
    engine = make_engine(sql_url)
    upgrade(engine)
    assert current(engine) is not None
    _Probe.__table__.create(engine, checkfirst=True)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        s.add(_Probe(name="cell-1"))
    with sessions() as s:
        assert s.scalars(select(_Probe.name)).all()[-1] == "cell-1"
    _Probe.__table__.drop(engine)
    engine.dispose()
