"""Tidy export (analysis.export): small per-trial files that read back as the same results."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from analysis.export import export, main
from analysis.load import TIDY_COLUMNS, ResultsError, load_runs
from analysis.stats import table
from tests.test_analysis import (
    FINALS,
    REPS,
    ROOT,
    build_grid,
    experiment,
    markdown_rows,
    quiet_load,
    ramp,
    trial,
)


@pytest.fixture
def grid(tmp_path):
    return build_grid(experiment(tmp_path / "storage" / "exp"))


def test_exported_files_load_as_the_same_frame_and_table(grid, tmp_path):
    out = tmp_path / "tidy"
    paths, left_out = export([str(grid)], str(out))
    assert left_out == 0
    assert sorted(p.split("/")[-1] for p in paths) == sorted(
        f"{m}_seed{s}.csv.gz" for m, finals in FINALS.items() for s in range(len(finals)))
    original, again = quiet_load(str(grid)), quiet_load(str(out))
    assert list(again.columns) == list(TIDY_COLUMNS)
    pd.testing.assert_frame_equal(original, again)
    pd.testing.assert_frame_equal(table(original, REPS), table(again, REPS))
    one = quiet_load(paths[0])  # a single file reads too
    assert one["trial"].nunique() == 1 and len(one) == 10


def test_export_is_byte_reproducible_and_never_overwrites_different_content(grid, tmp_path):
    out = tmp_path / "tidy"
    export([str(grid)], str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    export([str(grid)], str(out))  # same results: the files are left exactly as they are
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (grid / "iam_seed0" / "result.json").write_text("")  # results changed under the same name
    trial(experiment(tmp_path / "other"), "iam", 0, ramp(30))
    with pytest.raises(ResultsError, match=r"iam_seed0\.csv\.gz exists with different content"):
        export([str(tmp_path / "other")], str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unfinished_trials_are_left_out_unless_asked(tmp_path):
    exp = experiment(tmp_path / "exp")
    trial(exp, "iam", 0, ramp(20))
    trial(exp, "gru", 0, ramp(20)[:5], budget=10 * 1024)
    with pytest.warns(UserWarning, match="unfinished"):
        paths, left_out = export([str(exp)], str(tmp_path / "a"))
    assert [p.split("/")[-1] for p in paths] == ["iam_seed0.csv.gz"] and left_out == 1
    with pytest.warns(UserWarning, match="unfinished"):
        paths, _ = export([str(exp)], str(tmp_path / "b"), include_unfinished=True)
    assert len(paths) == 2
    with pytest.warns(UserWarning, match="gru_seed0: unfinished"):
        frame = load_runs(str(tmp_path / "b"))
    assert not frame.loc[frame["model"] == "gru", "complete"].any()


def test_cli_and_its_one_line_errors(grid, tmp_path, capsys):
    out = tmp_path / "tidy"
    run = subprocess.run([sys.executable, "-m", "analysis.export", str(grid), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == sum(len(f) for f in FINALS.values())
    report = tmp_path / "report"
    figure = subprocess.run([sys.executable, "-m", "analysis.figure5", str(out), "--out",
                             str(report), "--reps", "50"], cwd=ROOT, capture_output=True,
                            text=True)
    assert figure.returncode == 0, figure.stderr
    assert ["Warehouse", "iam", "3", "0", "21.00"] in [r[:5] for r in markdown_rows(figure.stdout)]
    for argv, message in (([str(tmp_path / "nope")], "no such results folder"),
                          ([str(grid / "iam_seed0" / "result.json")], "not a folder or a tidy")):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err and err.count("\n") == 1
        assert not (tmp_path / "x").exists()
