"""The PPO search (experiments/ppo_search.py) through the command a user types, tiny budgets."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rllib_iam.search import space_description
from rllib_iam.training import ppo_settings

ROOT = Path(__file__).resolve().parent.parent


def search(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "experiments/ppo_search.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize(("args", "says"), [
    (["--samples", "0"], "--samples must be a positive integer"),
    (["--timesteps", "lots"], "--timesteps must be a positive integer"),
    (["--grace", "5000", "--timesteps", "4096"], "--grace must not exceed --timesteps"),
    (["--reduction-factor", "1"], "--reduction-factor must be 2 or more"),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
    (["--model", "transformer"], "unknown model 'transformer'"),
    (["--env", "CartPole-v1"], "unknown env 'CartPole-v1'"),
    (["--resume"], "nothing to resume"),
    (["--param-budget", "0"], "--param-budget must be a positive count or a model name"),
    (["--model", "gru", "--param-budget", "10"], "param_budget"),
    (["--track", "bogus"], "unknown --track 'bogus'; valid: wandb, mlflow"),
])
def test_bad_input_is_one_line_exit_2_before_anything_starts(tmp_path, args, says):
    run = search("--storage-path", str(tmp_path / "s"), *args)
    assert run.returncode == 2, run.stderr[-2000:]
    assert says in run.stderr and run.stderr.strip().count("\n") <= 1, run.stderr
    assert not (tmp_path / "s").exists()


def test_resume_of_a_folder_that_is_not_a_tune_experiment_is_refused(tmp_path):
    (tmp_path / "s" / "mine").mkdir(parents=True)
    (tmp_path / "s" / "mine" / "notes.txt").write_text("not Tune's")
    run = search("--storage-path", str(tmp_path / "s"), "--name", "mine", "--resume")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "is not a Tune experiment" in run.stderr and run.stderr.strip().count("\n") == 0
    assert sorted(p.name for p in (tmp_path / "s" / "mine").iterdir()) == ["notes.txt"]


def test_help_shows_defaults_and_examples():
    run = search("--help")
    assert run.returncode == 0
    assert "python experiments/ppo_search.py --model fnn --samples 24" in run.stdout
    flat = " ".join(run.stdout.split())  # argparse wraps help lines at the terminal width
    assert "(default ppo-search)" in flat and "(default 1.25e5)" in flat


def test_every_point_of_the_space_is_a_valid_paper_ppo():
    space = space_description()
    for name, domain in space.items():
        values = domain.get("choice") or domain["loguniform"]
        for value in values:
            ppo_settings(overrides={name: value})  # raises on a value PaperPPO refuses
    smallest = min(space["num_envs"]["choice"]) * min(space["rollout_fragment_length"]["choice"])
    assert max(space["minibatch_size"]["choice"]) <= smallest


@pytest.mark.slow
def test_a_tiny_search_writes_its_trials_and_winner_and_resumes(tmp_path):
    storage, out = tmp_path / "s", tmp_path / "out"
    # 8,192 transitions: every layout of the space (up to 32 envs) ends its first 100-step
    # episodes before ASHA's first comparison at 4,096
    args = ["--samples", "3", "--timesteps", "8192", "--grace", "4096", "--reduction-factor", "2",
            "--storage-path", str(storage), "--name", "tiny", "--out", str(out)]
    run = search(*args)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 3
    assert all(int(r["transitions"]) >= 4096 for r in rows)
    assert any(int(r["transitions"]) >= 8192 for r in rows)
    winner = json.loads((out / "winner.json").read_text())
    ppo_settings(overrides=winner["ppo_config"])  # a valid --ppo-config
    assert set(winner["ppo_config"]) == set(space_description())
    # (a trial whose last 10% holds no episode end has no return: "")
    assert winner["return"] == max(float(r["return"]) for r in rows
                                   if r["return"] and int(r["transitions"]) >= 8192)
    again = search(*args)
    assert again.returncode == 2 and "already exists" in again.stderr
    resumed = search(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "winner.json").read_text()) == winner


@pytest.mark.slow
def test_param_budget_reaches_the_searched_model(tmp_path):
    """``--model gru --param-budget iam``: the search's trials train a GRU of iam's size."""
    from rllib_iam.models import count_params, module_spec

    run = search("--model", "gru", "--param-budget", "iam", "--samples", "1", "--timesteps",
                 "4096", "--grace", "4096", "--storage-path", str(tmp_path), "--name", "g")
    assert run.returncode in (0, 1), run.stderr[-3000:]  # 1: no episode in its last 10%
    (params,) = (tmp_path / "g").glob("*/params.json")
    budget = count_params(module_spec("iam").build())
    assert json.loads(params.read_text())["model_config"] == {"param_budget": budget}
