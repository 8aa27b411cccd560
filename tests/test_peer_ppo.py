"""The SB3 peer (benchmarks/peer_ppo.py): its refusals, and a tiny run the analysis reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

from analysis.load import TIDY_COLUMNS, load_runs
from tests.test_analysis import markdown_rows

ROOT = Path(__file__).resolve().parent.parent


def peer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/peer_ppo.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def assert_refused(run: subprocess.CompletedProcess, says: str) -> None:
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("peer_ppo: error: "), run.stderr
    assert says in run.stderr and not run.stdout


@pytest.mark.parametrize(("args", "says"), [
    (["--timesteps", "0"], "--timesteps must be a whole number >= 1"),
    (["--timesteps", "1.5e3x"], "--timesteps not a number"),
    (["--decay-over", "soon"], "--decay-over must be paper, budget or a number"),
    (["--seeds", "0"], "--seeds must be >= 1"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, args, says):
    assert_refused(peer("--out", str(tmp_path / "out"), *args), says)
    assert not (tmp_path / "out").exists()


def test_an_existing_file_is_never_overwritten(tmp_path):
    existing = tmp_path / "sb3_seed1.csv.gz"
    existing.write_bytes(b"keep me")
    run = peer("--out", str(tmp_path), "--seeds", "2", "--timesteps", "1024", "--sides", "sb3")
    assert_refused(run, "sb3_seed1.csv.gz exists; not overwritten")
    assert existing.read_bytes() == b"keep me"
    assert not (tmp_path / "sb3_seed0.csv.gz").exists()  # refused before any training


def test_without_sb3_the_script_says_so_in_one_line(tmp_path, monkeypatch, capsys,
                                                     benchmark_module):
    peer_ppo = benchmark_module("peer_ppo")
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(SystemExit) as exit_:
        peer_ppo.main(["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "pip install stable-baselines3==2.9.2" in err


@pytest.mark.slow
def test_a_tiny_run_writes_a_tidy_curve_the_analysis_reads(tmp_path):
    out = tmp_path / "peer"
    run = peer("--out", str(out), "--seeds", "1", "--first-seed", "4", "--timesteps", "2048",
               "--sides", "sb3")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("sb3 seed 4: final return ") and "transitions/s" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "curves.png", "sb3_seed4.csv.gz", "stages.csv", "stages.md"]
    frame = load_runs([str(out)])
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert frame["iteration"].tolist() == [1, 2]
    assert frame["transitions"].tolist() == [1024, 2048]
    assert frame["reference_steps"].tolist() == [128, 256]
    first = frame.iloc[0]
    assert (first["model"], first["ppo"], first["seed"], first["env"]) == (
        "sb3", "sb3", 4, "rllib_iam/Warehouse-v0")
    assert first["trial"] == "peer/sb3_seed4" and first["budget"] == 2048
    assert frame["complete"].all() and (frame["params"] == 169_729).all()  # the project's fnn
    assert frame["episode_return_mean"].notna().all() and (frame["wall_time_s"] > 0).all()

    import pandas as pd

    raw = pd.read_csv(out / "sb3_seed4.csv.gz")
    diagnostics = ["entropy", "vf_explained_var", "vf_loss", "policy_loss", "clip_fraction",
                   "kl", "lr", "clip_param"]
    assert list(raw.columns[:len(TIDY_COLUMNS)]) == list(TIDY_COLUMNS)
    assert set(raw.columns) == {*TIDY_COLUMNS, *diagnostics}
    assert raw[diagnostics].notna().all().all()
    assert raw["entropy"].between(0, 1.3863).all()  # a distribution over 4 actions
    # the paper's decay horizon (32e6): update k uses the values at k * 1024 transitions
    assert raw["lr"].tolist() == pytest.approx([2.5e-4 * (1 - k * 1024 / 32e6) for k in (1, 2)])
    assert raw["clip_param"].tolist() == pytest.approx(
        [0.1 + (1e-5 - 0.1) * k * 1024 / 32e6 for k in (1, 2)])


@pytest.mark.slow
def test_one_command_runs_both_sides_and_compares_them(tmp_path):
    """The default: SB3 and this project's fnn (through experiments/figure5.py and
    analysis.export), the same seed and budget, one table."""
    out = tmp_path / "peer"
    run = peer("--out", str(out), "--seeds", "1", "--timesteps", "2048")
    assert run.returncode == 0, run.stderr[-3000:]
    assert {"sb3_seed0.csv.gz", "fnn_seed0.csv.gz", "stages.md"} <= {p.name for p in out.iterdir()}
    frame = load_runs([str(out)])
    assert sorted(frame["model"].unique()) == ["fnn", "sb3 (sb3)"]
    assert frame.groupby("model")["transitions"].max().tolist() == [2048, 2048]
    curves = [r[0] for r in markdown_rows((out / "stages.md").read_text())]
    assert {"`fnn`", "`sb3 (sb3)`"} <= set(curves[2:])  # the rows after header and rule
    again = peer("--out", str(out), "--seeds", "1", "--timesteps", "2048")
    assert_refused(again, "exists; not overwritten")
