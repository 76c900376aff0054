from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aifabric.adapters.simulators.edge_sim import EdgeSimulator
from aifabric.adapters.simulators.nwdaf_sim import NwdafSimulator
from aifabric.adapters.simulators.ran_sim import RanSimulator
from tests.adapters.oas import OpenApiValidator


@pytest.fixture(scope="session")
def oas(specs_dir: Path) -> OpenApiValidator:
    return OpenApiValidator(specs_dir / "3gpp")


@pytest.fixture
def nwdaf_sim() -> Iterator[NwdafSimulator]:
    sim = NwdafSimulator(cells=4).start()
    yield sim
    sim.stop()


@pytest.fixture
def ran_sim(tmp_path) -> Iterator[RanSimulator]:
    sim = RanSimulator(nodes=2, sqlite_path=tmp_path / "xapp.sqlite3", sqlite_period_ms=200).start()
    yield sim
    sim.stop()


@pytest.fixture
def edge_sim() -> Iterator[EdgeSimulator]:
    sim = EdgeSimulator().start()
    yield sim
    sim.stop()
