"""Alembic environment: the engine comes from ``aifabric.persistence.migrate``."""

from alembic import context

from aifabric.persistence import tables  # noqa: F401  (registers every table)
from aifabric.persistence.db import Base

# MLflow may share the PostgreSQL database and keeps its own ``alembic_version`` table.
VERSION_TABLE = "aifabric_alembic_version"

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # MLflow may share the database and keeps its own ``alembic_version`` table.
        version_table="aifabric_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()
