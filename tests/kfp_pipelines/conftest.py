"""Fixtures for the pipeline tests: the session's stack, its SQL database, and small datasets."""

from __future__ import annotations

import secrets

import pytest

from aifabric.datasets import service as datasets
from aifabric.datasets.milan_generator import GeneratorConfig, generate
from aifabric.datasets.schemas import DatasetCreate
from aifabric.persistence import init_db, make_engine, session_factory
from aifabric.storage import ObjectStore


@pytest.fixture(scope="session")
def train_session(stack):
    engine = make_engine(stack.sql.url.get_secret_value())
    init_db(engine)
    with session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture(scope="session")
def milan_version(stack, train_session, tmp_path_factory):
    """One square, four days, with labelled anomalies, onboarded as a dataset version."""
    report = generate(
        tmp_path_factory.mktemp("milan"), GeneratorConfig(squares=1, days=4, anomaly_rate=2.0, seed=11)
    )
    return datasets.onboard(
        train_session,
        ObjectStore(stack),
        tenant="default",
        create=DatasetCreate(name="pipeline-" + secrets.token_hex(3)),
        files=[(f.name, f.read_bytes()) for f in report.files],
        labels=(report.labels_file.name, report.labels_file.read_bytes()),
    )
