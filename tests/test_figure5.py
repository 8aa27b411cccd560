"""The main job through the command a user types: experiments/figure5.py on a real local Ray."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.figure5 import FIGURE5 as ANALYSIS_KEY
from analysis.figure5 import load_runs
from rllib_iam.grid import DEFAULT_MODELS, DIAGNOSTICS, FIGURE5, PROFILES
from rllib_iam.models import MODELS

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = [sys.executable, "experiments/figure5.py"]


@functools.cache
def script():
    """experiments/figure5.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("figure5_script", ROOT / SCRIPT[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figure5(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run([*SCRIPT, *args], cwd=ROOT, capture_output=True, text=True)
    if check and run.returncode != 0:
        raise AssertionError(f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def iterations(trial: Path) -> list[int]:
    lines = (trial / "result.json").read_text().splitlines()
    return [json.loads(line)["training_iteration"] for line in lines]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    figure5("--profile", "smoke", "--storage-path", str(storage), "--name", "smoke")
    return storage / "smoke"


def test_smoke_gives_every_model_a_trial_with_results_and_checkpoint(smoke):
    for model in DEFAULT_MODELS:
        trial = smoke / f"{model}_seed0"
        assert (trial / "result.json").is_file(), model
        assert list(trial.glob("checkpoint_*")), model
        assert iterations(trial) == [1, 2]
        last = json.loads((trial / "result.json").read_text().splitlines()[-1])
        record = last[FIGURE5]
        assert record["transitions"] == PROFILES["smoke"].timesteps
        assert record["reference_steps"] == record["transitions"] / 8
        assert record["params"] > 100_000 and record["transitions_per_s"] > 0
        # the learner's diagnostics (rllib_iam.grid.DIAGNOSTICS), all logged by the paper PPO
        assert set(DIAGNOSTICS) <= set(record), model
        assert all(math.isfinite(record[name]) for name in DIAGNOSTICS), (model, record)
        assert 0 < record["entropy"] <= math.log(4) + 1e-6
        assert record["clip_param"] < 0.1 and record["lr"] < 2.5e-4
        params = json.loads((trial / "params.json").read_text())
        assert params["decay_over"] == "paper" and "ppo_config" not in params


def test_smoke_writes_figure_and_table(smoke):
    out = smoke / "figure5"
    for name in ("figure5.png", "figure5.pdf", "table.csv", "table.md"):
        assert (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "table.csv")
    assert sorted(table["model"]) == sorted(DEFAULT_MODELS)
    frame = load_runs([str(smoke)])
    assert len(frame) == 2 * len(DEFAULT_MODELS)
    assert frame[list(DIAGNOSTICS)].notna().all().all()  # the tidy frame keeps them
    assert ANALYSIS_KEY == FIGURE5


def test_resume_of_a_finished_experiment_reruns_nothing(smoke):
    before = {t.name: iterations(t) for t in smoke.glob("*_seed0")}
    run = figure5("--profile", "smoke", "--storage-path", str(smoke.parent), "--name", "smoke",
                  "--resume", "--no-analysis")
    assert f"{len(DEFAULT_MODELS)} of {len(DEFAULT_MODELS)} trials finished" in run.stdout
    assert {t.name: iterations(t) for t in smoke.glob("*_seed0")} == before


@pytest.mark.parametrize("args, message", [
    (["--models", "iam"], "--models asks for models iam (stored: fnn, fnn8, gru, iam, lstm)"),
    (["--profile", "quick"], "--profile asks for timesteps 153600 (stored: 2048)"),
    (["--seeds", "2"], "--seeds asks for seeds 0, 1 (stored: 0)"),
    (["--param-budget", "214401"], "--param-budget asks for model_config"),
    (["--cpus-per-trial", "2"], "--cpus-per-trial asks for cpus_per_trial 2 (stored: 1)"),
    (["--ppo-config", '{"adam_eps": 1e-5}'],
     '--ppo-config asks for ppo_config {"adam_eps": 1e-05} (stored: {})'),
    (["--decay-over", "budget"], "--decay-over asks for decay_over budget (stored: paper)"),
])
def test_resume_refuses_flags_that_contradict_the_stored_grid(smoke, args, message, capsys):
    state = sorted((p, p.stat().st_mtime_ns) for p in smoke.rglob("*"))
    with pytest.raises(SystemExit) as exit_:
        script().main(["--storage-path", str(smoke.parent), "--name", "smoke", "--resume", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in err and "as it was started" in err, err
    assert sorted((p, p.stat().st_mtime_ns) for p in smoke.rglob("*")) == state


def test_existing_experiment_is_refused_and_left_alone(smoke):
    state = sorted((p, p.stat().st_mtime_ns) for p in smoke.rglob("*"))
    run = figure5("--profile", "smoke", "--storage-path", str(smoke.parent), "--name", "smoke",
                  check=False)
    assert run.returncode == 2
    assert "already exists" in run.stderr and "Traceback" not in run.stderr
    assert sorted((p, p.stat().st_mtime_ns) for p in smoke.rglob("*")) == state


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "iam,transformer"], "unknown model(s) transformer; valid: iam"),
        (["--env", "CartPole-v1"], "unknown env 'CartPole-v1'"),
        (["--profile", "huge"], "unknown profile 'huge'; valid: smoke, quick, blog, paper"),
        (["--seeds", "0"], "must be a positive integer"),
        (["--seeds", "-2"], "must be a positive integer"),
        (["--timesteps", "0"], "must be a positive integer"),
        (["--timesteps", "lots"], "must be a positive integer"),
        (["--timesteps", "1.5e0"], "must be a positive integer"),
        (["--timesteps", "1e400"], "must be a positive integer"),
        (["--ppo", "trpo"], "unknown --ppo 'trpo'"),
        (["--storage-path", "ftp://host/x"], "unsupported storage URI scheme 'ftp'"),
        (["--storage-path", "/proc/version"], "is not a writable folder"),
        (["--name", "nothing-here", "--resume"], "nothing to resume"),
        (["--cpus-per-trial", "4"], "must split evenly over 3 env runners"),
        (["--first-seed", "-1"], "--first-seed must be 0 or more"),
        (["--model-config", "{d_set: 1}"], "--model-config is not JSON"),
        (["--model-config", "[1]"], "--model-config must be a JSON object"),
        (["--model-config", '{"env_id": "x"}'], "--model-config cannot set env_id; use --env"),
        (["--model-config", '{"widht": 3}'], "unknown model_config key(s) widht for model 'iam'"),
        (["--models", "iam", "--model-config", '{"d_set": [0, 73]}'],
         "--model-config for iam: d-set indices must be a non-empty list within [0, 73)"),
        (["--param-budget", "0"], "--param-budget must be a positive count or a model name"),
        (["--param-budget", "iam", "--model-config", '{"param_budget": 9}'], "conflict"),
        (["--ppo-config", "{lr: 1}"], "--ppo-config is not JSON"),
        (["--ppo-config", "[1]"], "--ppo-config must be a JSON object"),
        (["--ppo-config", '{"adam_epsilon": 1}'], "unknown PPO setting 'adam_epsilon'"),
        (["--ppo-config", '{"vf_clip": "min"}'], "vf_clip must be one of max, clamp, none"),
        (["--ppo-config", '{"minibatch_size": 4096}'], "minibatch_size 4096 exceeds the update"),
        (["--ppo", "rllib", "--ppo-config", '{"lr": 1e-3}'], "does not apply to --ppo rllib"),
        (["--decay-over", "soon"], "--decay-over must be paper, budget or a positive"),
        (["--decay-over", "0"], "--decay-over must be paper, budget or a positive"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_anything_is_written(args, message, tmp_path,
                                                                 capsys):
    """In this process, through the script's own `main` (a subprocess per case would spend
    minutes importing Ray and torch); the real command is checked below."""
    import ray

    storage = ["--storage-path", str(tmp_path / "s")] if "--storage-path" not in args else []
    with pytest.raises(SystemExit) as exit_:
        script().main([*storage, *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in err, err
    assert err.strip().count("\n") <= 1  # usage line + the error
    assert not (tmp_path / "s").exists() and not ray.is_initialized()


def test_resume_of_a_folder_that_is_not_a_tune_experiment_is_refused(tmp_path, capsys):
    (tmp_path / "s" / "mine").mkdir(parents=True)
    (tmp_path / "s" / "mine" / "notes.txt").write_text("not Tune's")
    with pytest.raises(SystemExit) as exit_:
        script().main(["--storage-path", str(tmp_path / "s"), "--name", "mine", "--resume"])
    assert exit_.value.code == 2
    assert "is not a Tune experiment" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "s" / "mine").iterdir()) == ["notes.txt"]


def test_bad_input_through_the_real_command(tmp_path):
    run = figure5("--storage-path", str(tmp_path / "s"), "--models", "iam,transformer",
                  check=False)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "figure5.py: error: unknown model(s) transformer; valid: " + ", ".join(MODELS))
    assert not (tmp_path / "s").exists()


def test_fnn_learns_well_above_random(tmp_path):
    """60 paper-PPO updates (61,440 transitions), seed 0: the random policy scores 9.4."""
    figure5("--models", "fnn", "--seeds", "1", "--timesteps", str(60 * 1024),
            "--storage-path", str(tmp_path), "--name", "learn", "--no-analysis")
    frame = load_runs([str(tmp_path / "learn")])
    assert frame["iteration"].max() == 60
    assert frame["episode_return_mean"].tail(5).mean() > 12.5


def test_analysis_notebook_runs_on_the_smoke_run(smoke):
    from test_analysis import run_notebook

    printed = run_notebook(ROOT / "analysis" / "figure5.ipynb", {"RUNS": [str(smoke)], "REPS": 50})
    assert "Warehouse at 2,048 transitions per trial" in printed
    ranking = printed.split("By IQM of the final return:", 1)[1].split(". ")[0]
    ranked = re.findall(r"([a-z0-9_]+) -?\d+\.\d+", ranking)
    assert sorted(ranked) == sorted(DEFAULT_MODELS)


def test_an_interrupted_trial_is_counted_as_stopped_not_finished() -> None:
    from ray.tune import Result

    from rllib_iam.grid import outcome

    def result(done: bool, error: Exception | None = None) -> Result:
        metrics = {"done": done, "training_iteration": 3}
        return Result(metrics=metrics, checkpoint=None, error=error, path="x")

    assert outcome(result(True)) == "finished"
    assert outcome(result(False)) == "stopped"  # Ctrl-C: Tune ends it without an error
    assert outcome(result(True, RuntimeError("boom"))) == "failed"
