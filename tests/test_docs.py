"""The Python examples of the docs run as written (docs/python.md, in one interpreter, and the
README's), and so do the examples in the library's docstrings."""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import os
import re
from pathlib import Path

import pytest
import ray

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.fixture
def ray_local():
    from rllib_iam.session import start_ray

    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_the_python_guide_runs_as_written(ray_local, tmp_path, monkeypatch):
    blocks = python_blocks(ROOT / "docs" / "python.md")
    assert len(blocks) == 4
    monkeypatch.chdir(ROOT)  # the results example reads a committed folder by relative path
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, "docs/python.md", "exec"), namespace)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "3072"
    assert lines[1].startswith("greedy return after 3 updates: ")
    assert lines[2].split()[0] == "214401"  # iam, and the GRU cut to its size
    assert os.path.isdir(namespace["checkpoint"])
    assert "iam" in printed.getvalue() and "gru@214k" in printed.getvalue()


@pytest.mark.slow
def test_the_front_pages_example_runs_as_written(ray_local, tmp_path, monkeypatch):
    (block,) = python_blocks(ROOT / "README.md")
    monkeypatch.chdir(ROOT)  # it reads a committed results folder by relative path
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), namespace)
    namespace["algo"].stop()
    lines = printed.getvalue().splitlines()
    assert 0 <= float(lines[0]) <= 100  # the Warehouse's return after three updates
    assert os.path.isdir(namespace["checkpoint"])
    assert "iam" in printed.getvalue() and "gru@214k" in printed.getvalue()


DOCTESTED = (
    "rllib_iam.gridspec",
    "rllib_iam.storage",
    "rllib_iam.trial",
    "rllib_iam.envs.warehouse",
    pytest.param("rllib_iam.envs.traffic", marks=pytest.mark.slow),  # SUMO episodes
    pytest.param("rllib_iam.envs.atari", marks=pytest.mark.slow),
)
"""The modules outside the models whose docstrings hold examples (tests/test_models.py runs the
models' own)."""


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_every_docstring_example_is_run():
    """A module of the package with ``>>>`` examples is doctested here or by test_models."""
    listed = {getattr(m, "values", (m,))[0] for m in DOCTESTED}
    for path in (ROOT / "rllib_iam").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if ">>> " in path.read_text() and not name.startswith("rllib_iam.models"):
            assert name in listed, name
