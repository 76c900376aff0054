from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from aifabric.adapters.simulators.nwdaf_sim import NwdafSimulator
from aifabric.collector.runner import Collector
from aifabric.config import Settings
from aifabric.persistence import init_db, make_engine, session_factory


@pytest.fixture
def sessions(stack: Settings, tmp_path) -> Iterator[sessionmaker]:
    """A fresh SQLite database per test (the collector and the 'API' share it, as processes do)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'collector.db'}")
    init_db(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def nwdaf() -> Iterator[NwdafSimulator]:
    sim = NwdafSimulator(cells=4).start()
    yield sim
    sim.stop()


@pytest.fixture
def collector(stack: Settings, sessions) -> Iterator[Collector]:
    c = Collector(stack, sessions, tick_s=0.1).start()
    yield c
    c.stop()
