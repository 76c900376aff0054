"""The migrations are the schema: an empty database upgraded to head matches the table metadata.

Guards drift: a table change without a migration makes autogenerate find a difference here.
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from aifabric.persistence import init_db, make_engine
from aifabric.persistence import tables as _tables  # noqa: F401  (registers every table)
from aifabric.persistence.db import Base
from aifabric.persistence.migrate import current

pytestmark = pytest.mark.integration


def _aifabric_metadata() -> MetaData:
    """The tables aifabric declares (tests may add their own probe tables to ``Base``)."""
    md = MetaData()
    for mapper in Base.registry.mappers:
        if mapper.class_.__module__.startswith("aifabric.") and mapper.local_table.name not in md.tables:
            mapper.local_table.to_metadata(md)
    return md


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("pg_db_factory")()


def test_head_matches_metadata(empty_url):
    engine = make_engine(empty_url)
    try:
        init_db(engine)
        init_db(engine)  # idempotent
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": "aifabric_alembic_version"}
            )
            diff = compare_metadata(ctx, _aifabric_metadata())
        names = set(inspect(engine).get_table_names())
        assert current(engine) == "0002"
    finally:
        engine.dispose()
    assert diff == []
    assert "aifabric_alembic_version" in names and "alembic_version" not in names  # MLflow's stays MLflow's
    assert {"tenants", "api_tokens", "serving_deployments", "training_runs", "datasets"} <= names
