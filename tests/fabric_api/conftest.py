"""The fabric API as a real process on loopback, over the session's broker, S3 and MLflow.

``api`` runs once per module on SQLite and once on PostgreSQL; it can be restarted (the restart
test) and exposes the embedded admin token it wrote, plus helpers to make tenants and tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aifabric.config import Settings
from aifabric.runtime.process import ManagedProcess
from aifabric.runtime.services import api_spec
from aifabric.serving.sample_bundle import write_sample_bundle
from tests.conftest import free_port_block


class Api:
    """One API process: start, stop (SIGTERM), restart; an httpx client per token."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = f"http://127.0.0.1:{settings.api.port}"
        self.proc = ManagedProcess(api_spec(settings))
        self.log_file: Path = self.proc.spec.log_file

    def start(self) -> None:
        self.proc.start()
        self.proc.wait_ready()

    def stop(self) -> None:
        self.proc.stop()

    def restart(self) -> None:
        self.stop()
        self.proc = ManagedProcess(api_spec(self.settings))
        self.start()

    @property
    def admin_token(self) -> str:
        return (self.settings.data_dir / "token").read_text().strip()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=120)

    def tenant_token(self, tenant: str, admin: bool = False) -> str:
        """Create ``tenant`` (if needed) and a token for it, through the admin API."""
        with self.client(self.admin_token) as c:
            resp = c.post("/admin/tenants", json={"name": tenant})
            assert resp.status_code in (201, 409), resp.text
            resp = c.post("/admin/tokens", json={"tenant": tenant, "admin": admin})
            assert resp.status_code == 201, resp.text
            return resp.json()["token"]


def api_settings(stack: Settings, data_dir: Path, sql_url: str) -> Settings:
    """Settings that reuse the session's broker, S3 and MLflow but own SQL, data dir and port."""
    return Settings(
        data_dir=data_dir,
        kafka={"bootstrap_servers": stack.kafka.bootstrap_servers},
        s3={
            "endpoint": stack.s3.endpoint,
            "access_key": stack.s3.access_key.get_secret_value(),
            "secret_key": stack.s3.secret_key.get_secret_value(),
        },
        mlflow={"tracking_uri": stack.mlflow.tracking_uri},
        sql={"url": sql_url},
        api={"port": free_port_block()},
        serving={"port_range_start": free_port_block(20)},
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, stack: Settings, tmp_path_factory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'fabric.db'}"
    else:
        url = request.getfixturevalue("pg_db_factory")()
    server = Api(api_settings(stack, data_dir, url))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_db_factory(pg_url: str) -> Iterator[Callable[[], str]]:
    """Fresh PostgreSQL databases (one per API module run), dropped at the end of the session."""
    import secrets

    import psycopg2

    admin = pg_url.rsplit("/", 1)[0] + "/test"
    created: list[str] = []

    def make() -> str:
        name = "aifabric_api_" + secrets.token_hex(4)
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        created.append(name)
        return pg_url.rsplit("/", 1)[0] + "/" + name

    yield make
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in created:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


@pytest.fixture(scope="session")
def api_bundle(tmp_path_factory) -> Path:
    return write_sample_bundle(tmp_path_factory.mktemp("api-bundle"), model_name="fabric-traffic")
