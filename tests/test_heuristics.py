"""The reference policies: the script a user runs, and what the committed numbers say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from rllib_iam.heuristics import RESULTS_CSV, evaluate, load_reference, oracle_policy

ROOT = Path(__file__).resolve().parent.parent


def test_script_prints_and_writes_loadable_table(tmp_path):
    out = tmp_path / "h.csv"
    run = subprocess.run(
        [sys.executable, "experiments/heuristics.py", "--episodes", "200", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert "| greedy | True |" in run.stdout
    table = load_reference(out)
    assert set(table) == {(p, q) for p in ("random", "greedy", "oracle") for q in (True, False)}
    for quirks in (True, False):
        assert table["random", quirks] < 15 < 35 < table["greedy", quirks]


def test_bad_seed_is_one_line_exit_2(tmp_path):
    run = subprocess.run(
        [sys.executable, "experiments/heuristics.py", "--seed", "-1", "--out", str(tmp_path / "h")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "--seed must be 0 or more" in run.stderr
    assert not (tmp_path / "h").exists()


def test_default_out_leaves_the_committed_table_alone(tmp_path):
    """From the repository root the default writes runs/heuristics/, not results/heuristics/."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "experiments/heuristics.py"), "--episodes", "2"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    written = tmp_path / "runs" / "heuristics" / "warehouse.csv"
    assert f"wrote {Path('runs/heuristics/warehouse.csv')}" in run.stdout
    assert load_reference(written)["greedy", True] > 0


def test_existing_out_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "h.csv"
    out.write_text("mine\n")
    script = [sys.executable, "experiments/heuristics.py", "--episodes", "2", "--out", str(out)]
    run = subprocess.run(script, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "already exists; pass --overwrite" in run.stderr
    assert run.stdout == "" and out.read_text() == "mine\n"
    subprocess.run([*script, "--overwrite"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert load_reference(out)["random", False] > 0


def test_analysis_reads_the_committed_table():
    from analysis.figure5 import _heuristics

    committed = load_reference(RESULTS_CSV)
    assert RESULTS_CSV == ROOT / "results" / "heuristics" / "warehouse.csv"
    assert _heuristics("rllib_iam/Warehouse-v0") == {
        p: m for (p, quirks), m in committed.items() if quirks}


def test_committed_reference_matches_a_rerun():
    committed = load_reference(RESULTS_CSV)
    mean, se = evaluate("greedy", episodes=2000, quirks=True, seed=0)
    assert abs(committed["greedy", True] - mean) < 1e-6 and se < 0.2


def test_oracle_ignores_items_it_cannot_reach():
    obs = np.zeros((1, 73), dtype=np.float32)
    obs[0, 0] = 1.0  # robot at (0, 0)
    obs[0, 49 + 1] = obs[0, 49 + 6] = 1.0  # items at (0, 1) and (0, 6)
    ages = np.full((1, 24), -1)
    ages[0, 1], ages[0, 6] = 8, 0  # the near one expires before the robot can get there
    action = oracle_policy(obs, {"ages": ages}, np.random.default_rng(0))
    assert action[0] == 3  # right, towards (0, 6)
