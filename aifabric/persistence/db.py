"""Engine, session factory and the declarative base shared by every table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, String, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    """Declarative base of every aifabric table."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class TenantMixin:
    """Every resource belongs to exactly one tenant."""

    tenant: Mapped[str] = mapped_column(String(64), index=True, default="default")


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so several processes can share it."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def open_session(settings) -> Iterator[Session]:
    """A migrated session on the configured database, for CLI commands that run without the API."""
    engine = make_engine(settings.resolved().sql.url.get_secret_value())
    init_db(engine)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic migrations)."""
    from aifabric.persistence.migrate import upgrade

    upgrade(engine)
