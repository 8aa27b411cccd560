"""What the test modules share: the ``slow`` marker and a loader for the benchmark scripts.

``slow`` marks a test that starts Ray, trains, runs SUMO episodes, a notebook or a Tune search
(seconds to minutes each). ``pytest -m "not slow"`` is the developer's quick suite; CI (``make
test``) runs every test. Pytest cannot mark a fixture, so a test that uses one of the
fixtures that train or start Ray (`SLOW_FIXTURES`) is marked here, at collection.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SLOW_FIXTURES = frozenset({"smoke", "pong_smoke", "two_node_cluster", "ray_session", "ray_local"})
"""Fixtures that train a grid (test_figure5, test_traffic_figure5, test_rollout) or start Ray
(test_cluster's two-node cluster, test_models' and test_ppo's sessions)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts Ray, trains, or runs SUMO, a notebook or a search "
        "(deselect with -m 'not slow')")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def benchmark_module(monkeypatch: pytest.MonkeyPatch):
    """``benchmark_module("peer_ppo")``: ``benchmarks/peer_ppo.py`` imported as a module, with
    ``benchmarks/`` on ``sys.path`` for this test only, as when the script runs (the scripts are
    not a package and import each other, e.g. ``machine``)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))

    def load(name: str) -> ModuleType:
        return importlib.import_module(name)

    return load
