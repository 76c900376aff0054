"""Alembic environment: the engine comes from ``aifabric.persistence.migrate``."""

from alembic import context

from aifabric.persistence import tables  # noqa: F401  (registers every table)
from aifabric.persistence.db import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
