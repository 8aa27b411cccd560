"""analysis.stages: returns at fixed training points, on the committed blog results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.load import load_runs
from analysis.stages import per_seed_at, stage_table
from tests.test_analysis import markdown_rows

ROOT = Path(__file__).resolve().parent.parent
BLOG = ROOT / "results" / "warehouse-blog" / "trials"


def test_a_point_is_each_seeds_mean_over_the_window_before_it():
    frame = pd.DataFrame({
        "env": "e", "model": "m", "seed": 0, "trial": "t",
        "transitions": [100, 200, 300, 400], "episode_return_mean": [1.0, 2.0, 3.0, 4.0],
    })
    at = per_seed_at(frame, marks=[300, 500], window=150)
    assert at["episode_return_mean"].iloc[0] == pytest.approx(2.5)  # rows at 200 and 300
    assert pd.isna(at["episode_return_mean"].iloc[1])  # never reached 500


@pytest.mark.skipif(not BLOG.exists(), reason="no committed blog results")
def test_the_blog_grid_at_its_end_is_its_final_window():
    frame = load_runs(str(BLOG))
    t = stage_table(frame, marks=[500_000, 4_000_000], window=400_000).set_index("model")
    assert t["seeds@4000000"].tolist() == [5.0] * 5
    # the last 400k transitions are the table's final-return window (last 10% of 4e6)
    committed = pd.read_csv(BLOG.parent / "table.csv").set_index("model")
    for model in t.index:
        assert t.loc[model, "mean@4000000"] == pytest.approx(
            committed.loc[model, "final_return"], abs=0.05)


def test_the_command_writes_table_and_figure_and_refuses_bad_points(tmp_path):
    tidy = tmp_path / "trials"
    tidy.mkdir()
    for name in ("fnn_seed0.csv.gz", "fnn_seed1.csv.gz"):
        (tidy / name).write_bytes((BLOG / name).read_bytes())
    cmd = [sys.executable, "-m", "analysis.stages", str(tidy), "--at", "1e6,4e6"]
    run = subprocess.run([*cmd, "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    rows = [r[0] for r in markdown_rows((tmp_path / "out" / "stages.md").read_text())]
    assert rows[0] == "curve" and "`fnn`" in rows[2:]
    assert (tmp_path / "out" / "curves.png").stat().st_size > 0
    bad = subprocess.run([*cmd[:-2], "--at", "soon", "--out", str(tmp_path / "x")], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--at must be positive" in bad.stderr
    assert not (tmp_path / "x").exists()
