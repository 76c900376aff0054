"""Training requests: refused at once when wrong, failures reported with their reason, stop works."""

from __future__ import annotations

import os
import secrets

import pytest

from aifabric.datasets import service as datasets
from aifabric.datasets.schemas import DatasetCreate
from aifabric.errors import Conflict, InvalidRequest, NotFound
from aifabric.kfp_pipelines import service
from aifabric.kfp_pipelines.service import TrainingCreate
from aifabric.storage import ObjectStore

pytestmark = pytest.mark.integration


def test_bad_requests_are_refused_before_anything_starts(stack, train_session, milan_version):
    before = len(service.list_trainings(train_session, tenant="default"))
    with pytest.raises(NotFound, match="does not exist"):
        service.start_training(
            train_session, stack, tenant="default", create=TrainingCreate(dataset="nope@1")
        )
    with pytest.raises(NotFound):  # another tenant cannot see the dataset
        service.start_training(
            train_session, stack, tenant="other", create=TrainingCreate(dataset=milan_version.ref)
        )
    with pytest.raises(InvalidRequest, match="unknown parameters"):
        service.start_training(
            train_session,
            stack,
            tenant="default",
            create=TrainingCreate(dataset=milan_version.ref, train_params={"epoch": 1}),
        )
    with pytest.raises(NotFound, match="model definition 'mystery'"):
        service.start_training(
            train_session,
            stack,
            tenant="default",
            create=TrainingCreate(dataset=milan_version.ref, definition="mystery"),
        )
    with pytest.raises(InvalidRequest, match="no metric"):
        service.start_training(
            train_session,
            stack,
            tenant="default",
            create=TrainingCreate(dataset=milan_version.ref, metric="bytes"),
        )
    assert len(service.list_trainings(train_session, tenant="default")) == before


def test_failure_is_reported_with_its_reason(stack, train_session):
    rows = "timestamp,value\n" + "".join(f"{1761220800000 + i * 600_000},{i % 7}\n" for i in range(20))
    version = datasets.onboard(
        train_session,
        ObjectStore(stack),
        tenant="default",
        create=DatasetCreate(name="tiny-" + secrets.token_hex(3)),
        files=[("tiny.csv", rows.encode())],
    )
    started = service.start_training(
        train_session, stack, tenant="default", create=TrainingCreate(dataset=version.ref)
    )
    done = service.wait_training(train_session, stack, tenant="default", training_id=started.id, timeout=180)
    assert done.status == "failed"
    assert "too short for windows of 12" in done.error
    assert done.model_version is None


def test_stop_ends_the_worker(stack, train_session, milan_version):
    started = service.start_training(
        train_session, stack, tenant="default", create=TrainingCreate(dataset=milan_version.ref)
    )
    stopped = service.stop_training(train_session, stack, tenant="default", training_id=started.id)
    assert stopped.status == "stopped"
    row = train_session.get(service.TrainingRunRow, started.id)
    with pytest.raises(ProcessLookupError):
        os.kill(row.pid, 0)
    with pytest.raises(Conflict, match="already stopped"):
        service.stop_training(train_session, stack, tenant="default", training_id=started.id)
    assert (
        service.get_training(train_session, stack, tenant="default", training_id=started.id).status
        == "stopped"
    )
