"""SQL persistence: one SQLAlchemy metadata for all fabric state, migrated by Alembic.

Each subsystem declares its tables in its own module on :class:`Base`; ``aifabric.persistence.tables``
imports them all so that migrations and ``init_db`` see the whole schema.
"""

from aifabric.persistence.db import (
    Base,
    TenantMixin,
    TimestampMixin,
    init_db,
    make_engine,
    open_session,
    session_factory,
)

__all__ = [
    "Base",
    "TenantMixin",
    "TimestampMixin",
    "init_db",
    "make_engine",
    "open_session",
    "session_factory",
]
