"""The ``cluster`` fixture: each deployment of tests/replicas/cluster.py, started once per
module and pytest worker (module scope), reset before each test; ``c``: its alternating client."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import KINDS, Alternating, Cluster, running


@pytest.fixture(scope="module", params=KINDS)
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    kind: str = request.param
    root = tmp_path_factory.mktemp(kind)
    database_url = None
    if kind == "pg-replicas":
        from pg_server import shared_server

        server = shared_server()
        database_url = server.create_database()
    with running(kind, root, database_url) as started:
        yield started


@pytest.fixture
def c(cluster: Cluster) -> Alternating:
    cluster.reset()
    return cluster.client()
