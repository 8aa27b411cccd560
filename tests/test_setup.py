"""Setting up: the Makefile's pip arguments (dry runs, nothing installed) and the scripts' one
line outside the project's environment."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
MAKE = shutil.which("make")


def install_command(tmp_path: Path, *make_args: str, gpu: bool = False,
                    environ: dict | None = None) -> str:
    """The pip line `make` would run to install, with a PATH holding only `uname` (and a fake
    `nvidia-smi` where ``gpu``)."""
    bin_dir = tmp_path / ("gpu" if gpu else "cpu")
    bin_dir.mkdir()
    (bin_dir / "uname").symlink_to(shutil.which("uname"))
    if gpu:
        (bin_dir / "nvidia-smi").write_text("#!/bin/sh\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    run = subprocess.run(
        [MAKE, "-n", "-B", ".venv/.installed", *make_args], cwd=ROOT, capture_output=True,
        text=True, check=True, env={"PATH": str(bin_dir), **(environ or {})},
    )
    (line,) = [x for x in run.stdout.splitlines() if "-m pip install" in x and " -r " in x]
    return line


needs_linux_make = pytest.mark.skipif(
    MAKE is None or platform.system() != "Linux", reason="the GPU rule is Linux's; needs make")


@needs_linux_make
def test_cpu_torch_by_default_without_a_gpu(tmp_path):
    assert CPU_INDEX in install_command(tmp_path, "TORCH_INDEX_PROBE=true")


@needs_linux_make
def test_pypi_torch_where_a_gpu_is_present(tmp_path):
    assert "--extra-index-url" not in install_command(tmp_path, "TORCH_INDEX_PROBE=true", gpu=True)


@needs_linux_make
def test_no_cpu_index_where_it_cannot_be_reached(tmp_path):
    assert "--extra-index-url" not in install_command(tmp_path, "TORCH_INDEX_PROBE=false")


@needs_linux_make
def test_pip_args_override_the_default(tmp_path):
    empty = install_command(tmp_path, "TORCH_INDEX_PROBE=true", "PIP_ARGS=")
    assert "--extra-index-url" not in empty
    (tmp_path / "cpu").rename(tmp_path / "first")
    own = install_command(tmp_path, "TORCH_INDEX_PROBE=true",
                          environ={"PIP_ARGS": "--no-cache-dir"})
    assert "--no-cache-dir" in own and "--extra-index-url" not in own


@pytest.mark.parametrize("script", ["figure5", "heuristics", "ppo_search", "rollout"])
def test_scripts_outside_the_venv_say_how_to_get_it(script):
    """-I -S: this interpreter without its site-packages, as a Python without the project."""
    run = subprocess.run(
        [sys.executable, "-I", "-S", f"experiments/{script}.py", "--help"], cwd=ROOT,
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
    )
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert "No module named" in run.stderr and "source .venv/bin/activate" in run.stderr


@pytest.mark.parametrize("command", [
    ["benchmarks/peer_ppo.py"], ["benchmarks/train_throughput.py"], ["benchmarks/env_speed.py"],
    ["benchmarks/model_speed.py"], ["benchmarks/traffic_speed.py"],
    ["benchmarks/atari_throughput.py"], ["-m", "analysis.figure5"], ["-m", "analysis.export"],
])
def test_benchmarks_and_analysis_outside_the_venv_say_how_to_get_it(command):
    """-S -E -s: no site-packages (the project's dependencies missing), the working directory
    still on the path for ``-m analysis...``."""
    run = subprocess.run([sys.executable, "-S", "-E", "-s", *command, "--help"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == 1 and run.stdout == "", run.stderr[-2000:]
    assert run.stderr.count("\n") == 1, run.stderr[-2000:]
    assert "No module named" in run.stderr and "source .venv/bin/activate" in run.stderr


def test_license_and_citation_agree_with_the_package():
    import tomllib

    import yaml

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert (ROOT / "LICENSE").read_text().startswith(f"{project['license']['text']} License\n")
    assert citation["license"] == project["license"]["text"]
    assert citation["version"] == project["version"] and citation["cff-version"] == "1.2.0"
    paper = citation["preferred-citation"]
    assert paper["doi"] in (ROOT / "README.md").read_text()
    assert [a["family-names"] for a in paper["authors"]] == [
        "Suau", "He", "Congeduti", "Starre", "Czechowski", "Oliehoek"]
