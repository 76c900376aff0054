"""Session fixtures: one real service each (broker, S3, MLflow, API; PostgreSQL), started once.

The embedded stack runs in-process through the same :class:`Supervisor` that ``aifabric up``
uses, on free loopback ports and a temporary data dir, and is stopped at session end.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg2
import pytest

from aifabric.config import Settings
from aifabric.models.bundle import ScoringBundle
from aifabric.models.lstm_ae import SeasonalLSTMAutoencoder
from aifabric.models.reference import SeasonalReference
from aifabric.registered_names import registry_name
from aifabric.runtime import Supervisor, bootstrap_storage, default_stages
from aifabric.storage import ObjectStore

REPO = Path(__file__).resolve().parents[1]
SPECS = Path(os.environ.get("AIFABRIC_SPECS_DIR", REPO.parent / "shared" / "specs"))
T = TypeVar("T")
PG_ADMIN_URL = os.environ.get("AIFABRIC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_block(size: int = 1) -> int:
    """A random base port with ``size`` consecutive free ports after it."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(35000)
        if all(_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no free port block on loopback")


def pytest_configure(config) -> None:
    """A run stopped with SIGTERM (``timeout``, CI cancelling a job) tears down like Ctrl-C does:
    the stack fixtures stop their broker, S3 and MLflow instead of leaving them orphaned."""

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def stack_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for an ``aifabric`` CLI run of its own: this data dir, free loopback ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFABRIC_")}
    env.update(
        AIFABRIC_DATA_DIR=str(data_dir),
        AIFABRIC_KAFKA__PORT=str(free_port_block()),
        AIFABRIC_S3__PORT=str(free_port_block(12)),
        AIFABRIC_MLFLOW__PORT=str(free_port_block()),
        AIFABRIC_API__PORT=str(free_port_block(16)),
        **extra,
    )
    return env


def make_settings(data_dir: Path, **overrides) -> Settings:
    return Settings(
        data_dir=data_dir,
        kafka={"port": free_port_block()},
        s3={"port": free_port_block(12)},
        mlflow={"port": free_port_block()},
        api={"port": free_port_block()},
        **overrides,
    )


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    if not SPECS.is_dir():
        pytest.skip(f"official schemas not found at {SPECS} (../shared/specs is absent in this checkout)")
    return SPECS


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory) -> Settings:
    """Settings of the session's embedded stack (not yet started)."""
    return make_settings(tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def stack(stack_settings: Settings) -> Iterator[Settings]:
    """The running embedded stack (broker, S3, MLflow, API); yields resolved settings.

    Without the collector process: collector tests run collectors of their own, and two
    collectors on one database would both run its jobs."""
    sup = Supervisor(
        stack_settings,
        default_stages(stack_settings, collector=False),
        after_stage=lambda i: bootstrap_storage(stack_settings) if i == 0 else None,
    )
    sup.start()
    try:
        yield stack_settings.resolved()
    finally:
        sup.stop()


@pytest.fixture(scope="session")
def broker(stack: Settings) -> Settings:
    """Settings whose Kafka is the session's Tansu broker."""
    return stack


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped at the end."""
    name = "aifabric_test_" + secrets.token_hex(4)
    try:
        conn = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable (.ci/run starts it): {exc}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request, tmp_path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("pg_url")


def register_bundle(
    settings: Settings,
    directory: Path,
    name: str,
    prefix: str,
    tenant: str = "default",
    alias: str | None = None,
    metrics: dict[str, float] | None = None,
) -> str:
    """Upload a scoring bundle to S3 and register it as a new MLflow version of ``tenant``'s model
    ``name`` (REST, the way the pipeline's register step names and tags it); returns the version."""
    store = ObjectStore(settings, bucket=settings.s3.mlflow_bucket)
    for f in directory.iterdir():
        store.put_file(f"{prefix}/{f.name}", f)
    uri = f"s3://{settings.s3.mlflow_bucket}/{prefix}"
    api = f"{settings.mlflow.tracking_uri}/api/2.0/mlflow"
    registered = registry_name(tenant, name)
    httpx.post(f"{api}/registered-models/create", json={"name": registered}, timeout=30)  # exists: fine
    tags = {"bundle_uri": uri, "tenant": tenant, "dataset_version": "milan@1", "gate": "passed"}
    tags |= {k: str(v) for k, v in (metrics or {}).items()}
    resp = httpx.post(
        f"{api}/model-versions/create",
        json={"name": registered, "source": uri, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
        timeout=30,
    )
    resp.raise_for_status()
    version = str(resp.json()["model_version"]["version"])
    if alias:
        httpx.post(
            f"{api}/registered-models/alias",
            json={"name": registered, "alias": alias, "version": version},
            timeout=30,
        ).raise_for_status()
    return version


def save_seasonal_bundle(directory: Path, reference: SeasonalReference) -> ScoringBundle:
    """A ``lstm_ae_seasonal`` bundle with an identity scaler and ``reference`` (no ONNX file: for
    preprocessing tests), saved to ``directory`` and loaded back as the consumer loads it."""
    n = len(SeasonalLSTMAutoencoder.features)
    ScoringBundle(
        model_name="seasonal",
        definition="lstm_ae_seasonal",
        features=list(SeasonalLSTMAutoencoder.features),
        window=12,
        scaler_mean=[0.0] * n,
        scaler_scale=[1.0] * n,
        reference=reference,
        calibration={"mu": 0.0, "sigma": 1.0, "n": 1},
        threshold=0.99,
        input_name="windows",
        output_name="reconstruction",
    ).save(directory)
    return ScoringBundle.load(directory)


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "", poll: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail naming ``what`` and the
    last value after ``timeout`` seconds. The tests' only way to wait: no sleeps as synchronisation."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate} (last: {value!r})")
        time.sleep(poll)
