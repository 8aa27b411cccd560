"""The committed reference results (results/<env>-<profile>/) load and give their own table."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pandas as pd
import pytest

from analysis.load import AnalysisWarning, load_runs
from analysis.stages import stage_table
from analysis.stats import REPS, table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted(p.parent for p in (ROOT / "results").glob("*/trials"))


@pytest.mark.parametrize("folder", RESULTS, ids=[p.name for p in RESULTS])
def test_committed_results_load_and_regenerate_their_table(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnalysisWarning)  # every committed trial is clean
        frame = load_runs(str(folder / "trials"))
    assert bool(frame["complete"].all())
    # seeds run in order: each model's seeds are the first ones of the model with the most
    # (a grid may give some models fewer seeds, never other ones)
    seeds = frame.groupby("model")["seed"].apply(lambda s: tuple(sorted(set(s))))
    longest = max(seeds, key=len)
    assert all(s == longest[: len(s)] for s in seeds), seeds
    if (folder / "stages.csv").exists():  # a comparison of PPO variants (analysis.stages)
        committed = pd.read_csv(folder / "stages.csv")
        marks = [int(c.split("@")[1]) for c in committed.columns if c.startswith("mean@")]
        written = stage_table(frame, marks).to_csv(index=False)
    else:  # a Figure 5 grid (analysis.figure5)
        committed = pd.read_csv(folder / "table.csv")
        written = table(frame, REPS).to_csv(index=False)
    regenerated = pd.read_csv(io.StringIO(written))  # as written
    pd.testing.assert_frame_equal(regenerated, committed, rtol=1e-9)


@pytest.mark.parametrize("folder", RESULTS, ids=[p.name for p in RESULTS])
def test_the_results_folder_reads_as_its_trials(folder):
    """``analysis.figure5 results/<name>`` as a user types it: the trials in ``trials/``, not
    the table and improvement CSVs beside them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnalysisWarning)
        whole = load_runs(str(folder))
    pd.testing.assert_frame_equal(whole, load_runs(str(folder / "trials")))


def test_there_are_committed_results():
    assert RESULTS, "no results/<name>/trials folders: the tests above ran no case"


def test_the_fused_adam_check_in_the_docs_is_what_its_trials_give():
    """docs/throughput.md's table of the fused-Adam check, regenerated from the committed
    trials by the script beside them."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "results/fused-adam-check/check.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    rows = [line for line in run.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == 4
    docs = (ROOT / "docs" / "throughput.md").read_text()
    assert all(row in docs for row in rows), rows
