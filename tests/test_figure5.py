"""The main job through the command a user types: experiments/figure5.py on a real local Ray."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.figure5 import FIGURE5 as ANALYSIS_KEY
from analysis.figure5 import load_runs
from rllib_iam.grid import DEFAULT_MODELS, DIAGNOSTICS, FIGURE5, PROFILES
from rllib_iam.models import ZOO
from rllib_iam.tracking import Progress, progress_line

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = [sys.executable, "experiments/figure5.py"]


@functools.cache
def script():
    """experiments/figure5.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("figure5_script", ROOT / SCRIPT[1])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figure5(*args: str, check: bool = True, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    run = subprocess.run([*SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if check and run.returncode != 0:
        raise AssertionError(f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def iterations(trial: Path) -> list[int]:
    lines = (trial / "result.json").read_text().splitlines()
    return [json.loads(line)["training_iteration"] for line in lines]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    run = figure5("--profile", "smoke", "--storage-path", str(storage), "--name", "smoke")
    (storage / "smoke.log").write_text(run.stdout + run.stderr)
    return storage / "smoke"


def test_a_smoke_run_prints_no_known_noise(smoke):
    """RLlib's deprecation of its own RLModuleConfig and Tune's gputil hint are filtered in the
    driver and in every trial process (rllib_iam.ppo.quiet); the progress lines still print."""
    printed = (smoke.parent / "smoke.log").read_text()
    assert "RLModuleConfig" not in printed and "gputil" not in printed
    assert "progress iam_seed0: 100.0% of 2,048 transitions" in printed


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
        # the learner's diagnostics (rllib_iam.schema.DIAGNOSTICS), all logged by the paper PPO
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
        (["--ppo", "tuned", "--env", "rllib_iam/Traffic-v0"],
         "--ppo tuned: no tuned PPO for rllib_iam/Traffic-v0"),
        (["--ppo", "tuned", "--ppo-config", '{"vf_clip": "min"}'], "vf_clip must be one of"),
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
        (["--timesteps", "100"], "--timesteps 100 is less than one update: give at least 1024"),
        (["--ppo", "tuned", "--timesteps", "1000"], "give at least 1024"),
        (["--models", "fnn32"], "--models fnn32 on rllib_iam/Warehouse-v0: model 'fnn32' has "
                                "no default sizes for env 'rllib_iam/Warehouse-v0'"),
        (["--decay-over", "soon"], "--decay-over must be paper, budget or a positive"),
        (["--decay-over", "0"], "--decay-over must be paper, budget or a positive"),
        (["--estimate", "--resume", "--name", "x"], "--estimate prices a whole grid"),
        (["--estimate", "--models", "gpt"], "unknown model(s) gpt"),
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
        "figure5.py: error: unknown model(s) transformer; valid: " + ", ".join(ZOO)
        + ", or module:NAME for one a module registers")
    assert not (tmp_path / "s").exists()


def test_estimate_times_every_model_and_writes_nothing(tmp_path):
    """`--estimate` prints a row per model whose hours follow from its measured rate, and the
    grid's totals; no experiment folder, no Trainable folder under ~/ray_results."""
    home = tmp_path / "home"
    home.mkdir()
    run = figure5("--profile", "smoke", "--models", "fnn,iam", "--seeds", "3", "--timesteps",
                  "1e6", "--max-concurrent", "1", "--storage-path", str(tmp_path / "s"),
                  "--estimate", env={**os.environ, "HOME": str(home)})
    rows = {cells[0]: cells[1:] for cells in
            ([cell.strip() for cell in line.strip("|").split("|")]
             for line in run.stdout.splitlines()
             if line.startswith("| ") and not line.startswith("| model"))}
    assert sorted(rows) == ["fnn", "iam"], run.stdout
    trial_hours = []
    for rate, hours, trials, cpu_hours in rows.values():
        rate = float(rate.replace(",", ""))
        assert rate > 0 and trials == "3"
        assert float(hours) == pytest.approx(1e6 / rate / 3600, abs=0.006)
        assert float(cpu_hours) == pytest.approx(3 * float(hours), abs=0.02)
        trial_hours += [float(hours)] * 3
    total = re.search(r"In all ([\d.]+) CPU-hours; about ([\d.]+) h of wall time at 1 trial",
                      run.stdout)
    assert total, run.stdout
    # one trial at a time: the wall time is every trial's, one after another
    assert float(total[2]) == pytest.approx(sum(trial_hours), abs=0.05)
    assert not (tmp_path / "s").exists()
    assert not list((home / "ray_results").glob("*"))


def test_estimate_wall_time_fills_the_lanes_longest_first():
    from rllib_iam.estimate import lanes_wall_hours

    assert lanes_wall_hours([2, 3, 2, 3, 2], 2) == 7  # 3+2+2 | 3+2
    assert lanes_wall_hours([1, 1, 1], 8) == 1
    assert lanes_wall_hours([1.5, 1, 1], 1) == 3.5
    assert lanes_wall_hours([], 2) == 0


@pytest.mark.slow
def test_fnn_learns_well_above_random(tmp_path):
    """60 paper-PPO updates (61,440 transitions), seed 0: the random policy scores 9.4."""
    figure5("--models", "fnn", "--seeds", "1", "--timesteps", str(60 * 1024),
            "--storage-path", str(tmp_path), "--name", "learn", "--no-analysis")
    frame = load_runs([str(tmp_path / "learn")])
    assert frame["iteration"].max() == 60
    assert frame["episode_return_mean"].tail(5).mean() > 12.5


def test_analysis_notebook_runs_on_the_smoke_run(smoke):
    from tests.test_analysis import run_notebook

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


def wandb_history(run_file: Path) -> list[dict]:
    """The history rows of an offline wandb run: its ``.wandb`` file is a LevelDB-style log
    (7-byte header, 32 KiB blocks of records with a 7-byte crc/length/type header) of
    protobuf `Record`s, which ``wandb sync`` uploads."""
    from wandb.proto.wandb_internal_pb2 import Record

    raw, pos, part, rows = run_file.read_bytes(), 7, b"", []
    while pos + 7 <= len(raw):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        part, pos = part + raw[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = Record()
            record.ParseFromString(part)
            part = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
    assert not part, f"{run_file} ends inside a record (cut off before wandb wrote it all)"
    return rows


@pytest.mark.slow
def test_track_wandb_and_mlflow_log_every_iteration_offline_and_resume(tmp_path):
    """Offline by default: no account, no server; the wandb run and the MLflow store hold
    both iterations of the trial, and --resume takes --track too."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WANDB_MODE", "WANDB_DIR", "MLFLOW_TRACKING_URI")}
    run = figure5("--profile", "smoke", "--models", "fnn", "--storage-path", str(tmp_path),
                  "--name", "tracked", "--track", "wandb", "--track", "mlflow",
                  "--no-analysis", env=env)
    trial_id = json.loads((tmp_path / "tracked" / "fnn_seed0" / "result.json")
                          .read_text().splitlines()[0])["trial_id"]
    transitions = [1024, 2048]

    (run_file,) = (tmp_path / "tracked" / "wandb").glob(f"offline-run-*-{trial_id}/run-*.wandb")
    history = wandb_history(run_file)
    assert [row["figure5/transitions"] for row in history] == transitions
    assert [row["training_iteration"] for row in history] == [1, 2]

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    (mlflow_run,) = client.search_runs([experiment.experiment_id])
    assert mlflow_run.info.run_name == "fnn_seed0" and mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params["model"] == "fnn"
    logged = client.get_metric_history(mlflow_run.info.run_id, "figure5/transitions")
    assert sorted((m.step, m.value) for m in logged) == [(1, 1024.0), (2, 2048.0)]
    assert "progress fnn_seed0: 100.0% of 2,048 transitions (2,048)" in run.stdout

    # TensorBoard (requirements.txt) reads the event files Tune writes without being asked
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = (tmp_path / "tracked" / "fnn_seed0").glob("events.out.tfevents.*")
    board = EventAccumulator(str(events))
    board.Reload()
    logged = board.Scalars("ray/tune/figure5/transitions")
    assert [(e.step, e.value) for e in logged] == [(1, 1024.0), (2, 2048.0)]

    # Tune restores the callbacks stored at the start; --resume puts this run's in their place
    resumed = figure5("--storage-path", str(tmp_path), "--name", "tracked", "--resume",
                      "--track", "mlflow", "--no-analysis", env=env)
    assert "1 of 1 trials finished" in resumed.stdout
    assert len(list((tmp_path / "tracked" / "wandb").glob("offline-run-*"))) == 1


@pytest.mark.parametrize("args, message", [
    (["--track", "bogus"], "unknown --track 'bogus'; valid: wandb, mlflow"),
    (["--track", "mlflow,tensorboard"], "unknown --track 'tensorboard'; valid: wandb, mlflow"),
    (["--track", ""], "unknown --track ''"),
])
def test_track_refuses_an_unknown_tracker_in_one_line(args, message, tmp_path, capsys):
    import ray

    with pytest.raises(SystemExit) as exit_:
        script().main(["--storage-path", str(tmp_path / "s"), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and err.strip().count("\n") == 0, err
    assert not (tmp_path / "s").exists() and not ray.is_initialized()


def test_track_without_the_package_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import importlib.util

    import ray

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else find_spec(name, *a))
    with pytest.raises(SystemExit) as exit_:
        script().main(["--storage-path", str(tmp_path / "s"), "--track", "mlflow,wandb"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "--track wandb needs the wandb package" in err and "[track]" in err, err
    assert not (tmp_path / "s").exists() and not ray.is_initialized()


def test_progress_line_gives_share_rate_and_eta():
    # 1e6 of 4e6 transitions in 1,000 s: 1,000/s, so 3e6 left take 3,000 s
    assert progress_line("iam_seed0", 1_000_000, 4_000_000, 1000.0) == (
        "progress iam_seed0: 25.0% of 4,000,000 transitions (1,000,000), 1,000/s, ETA 50m00s")
    assert progress_line("fnn_seed1", 32_000_000, 32_000_000, 7500.0).endswith(
        "100.0% of 32,000,000 transitions (32,000,000), 4,267/s, done in 2h05m")
    assert progress_line("gru_seed0", 0, 2048, 0.0).endswith("?/s, ETA unknown")


def test_progress_prints_the_first_result_then_at_most_every_interval_and_the_end(capsys):
    progress = Progress(every_s=3600)
    trial = type("Trial", (), {"trial_id": "a", "config": {"timesteps": 3072},
                               "__str__": lambda self: "lstm_seed0"})()
    for done in (1024, 2048, 3072):
        result = {"env_runners": {"num_env_steps_sampled_lifetime": done}, "time_total_s": done}
        progress.on_trial_result(iteration=done // 1024, trials=[trial], trial=trial,
                                 result=result)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["progress lstm_seed0: 33.3% of 3,072 transitions (1,024), 1/s, ETA 34m08s",
                     "progress lstm_seed0: 100.0% of 3,072 transitions (3,072), 1/s, "
                     "done in 51m12s"]
@pytest.mark.slow
def test_tuned_ppo_trains_resumes_and_refuses_a_different_variant_on_resume(tmp_path, capsys):
    """``--ppo tuned`` through the real command: its layout and settings reach the trial, a
    resume with the same flags reruns nothing, one with ``--ppo paper`` is refused."""
    from rllib_iam.training import ppo_settings

    tuned = ppo_settings(ppo="tuned")
    update = tuned.num_envs * tuned.rollout_fragment_length
    args = ["--models", "fnn", "--seeds", "1", "--timesteps", str(2 * update), "--ppo", "tuned",
            "--storage-path", str(tmp_path), "--name", "tuned", "--no-analysis"]
    figure5(*args)
    trial = tmp_path / "tuned" / "fnn_seed0"
    params = json.loads((trial / "params.json").read_text())
    assert params["ppo"] == "tuned" and params["decay_over"] == "paper"
    assert iterations(trial) == [1, 2]
    record = json.loads((trial / "result.json").read_text().splitlines()[-1])[FIGURE5]
    assert record["transitions"] == 2 * update
    assert record["lr"] == pytest.approx(tuned.lr, rel=1e-3)  # 1/4,000 of the way to ~0
    again = figure5(*args, "--resume")
    assert "1 of 1 trials finished" in again.stdout and iterations(trial) == [1, 2]
    with pytest.raises(SystemExit) as exit_:
        script().main(["--storage-path", str(tmp_path), "--name", "tuned", "--resume",
                       "--ppo", "paper"])
    assert exit_.value.code == 2
    assert "--ppo asks for ppo paper (stored: tuned)" in capsys.readouterr().err


def test_help_shows_defaults_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        script().main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "python experiments/figure5.py --profile smoke" in out  # the docstring's examples
    assert "(default runs)" in out and "(default paper)" in out


@pytest.mark.slow
def test_a_trial_checkpoints_on_the_clock_whatever_its_profile(tmp_path):
    """`quick` checkpoints every 25 iterations (and at the end); with the wall-clock cadence
    at 0 s (``RLLIB_IAM_CHECKPOINT_S``) a 5-iteration trial checkpoints after every one, so the
    two it keeps are its last two iterations', not only the end's."""
    env = {**os.environ, "RLLIB_IAM_CHECKPOINT_S": "0"}
    figure5("--profile", "quick", "--models", "fnn", "--seeds", "1", "--timesteps", "5120",
            "--storage-path", str(tmp_path), "--name", "clock", "--no-analysis", env=env)
    trial = tmp_path / "clock" / "fnn_seed0"
    kept = sorted(p.name for p in trial.glob("checkpoint_*"))
    assert kept == ["checkpoint_000003", "checkpoint_000004"], kept


def fake_trial(folder: Path, *, timesteps: int, iterations: int, done: bool,
               checkpoint_at: int | None) -> None:
    """A Tune trial folder as a grid leaves it: params.json, result.json (1,024 transitions and
    2 s per iteration, an iteration a second apart), a checkpoint written after iteration
    ``checkpoint_at``."""
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({"model": "iam", "seed": 0,
                                                    "timesteps": timesteps}))
    start = 1_800_000_000
    rows = [{"training_iteration": i, "timestamp": start + i, "time_total_s": 2.0 * i,
             "done": done and i == iterations, FIGURE5: {"transitions": 1024 * i}}
            for i in range(1, iterations + 1)]
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if checkpoint_at is not None:
        checkpoint = folder / "checkpoint_000003"
        checkpoint.mkdir()
        os.utime(checkpoint, (start + checkpoint_at, start + checkpoint_at))


def test_status_says_where_each_trial_stands_and_writes_nothing(tmp_path):
    experiment = tmp_path / "long"
    fake_trial(experiment / "iam_seed0", timesteps=10 * 1024, iterations=4, done=False,
               checkpoint_at=3)
    fake_trial(experiment / "lstm_seed0", timesteps=2 * 1024, iterations=2, done=True,
               checkpoint_at=2)
    fake_trial(experiment / "fnn_seed0", timesteps=4096, iterations=1, done=False,
               checkpoint_at=None)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = figure5("--status", "--storage-path", str(tmp_path)).stdout
    rows = {line.split("|")[2].strip(): line for line in out.splitlines()[2:]}
    assert set(rows) == {"iam_seed0", "lstm_seed0", "fnn_seed0"}
    # 4 of 10 updates at 512 transitions/s: 6,144 left, 12 s
    assert "| 4,096 | 40.0% | 512 | 0m12s | checkpoint_000003 |" in rows["iam_seed0"]
    assert "continues from checkpoint_000003 (iteration 3; 1 later iteration run again)" \
        in rows["iam_seed0"]
    assert "nothing (finished)" in rows["lstm_seed0"]
    assert "starts it over (no checkpoint)" in rows["fnn_seed0"]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    named = figure5("--status", "--storage-path", str(tmp_path), "--name", "long").stdout
    assert [line.split("|")[1:3] for line in named.splitlines()] == \
        [line.split("|")[1:3] for line in out.splitlines()]


@pytest.mark.parametrize("args, message", [
    (["--name", "nope"], "no experiment 'nope' in"),
    (["--models", "iam"], "takes only --name and --storage-path, not --models"),
])
def test_status_refuses_what_it_cannot_read(tmp_path, args, message):
    run = figure5("--status", "--storage-path", str(tmp_path), *args, check=False)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.splitlines()) == 1


def test_the_blog_results_and_a_new_grid_keep_their_schedules_apart(smoke):
    """The committed `blog` grid decayed over its budget (its trials predate ``decay_over``);
    a new grid decays on the paper's clock: analysed together, every trial of both is kept,
    under its own label."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_runs([str(ROOT / "results/warehouse-blog"), str(smoke)])
    assert not [w for w in caught if "counted once" in str(w.message)]
    trials = frame.groupby("ppo")["trial"].nunique().to_dict()
    assert trials == {"paper+decay=budget": 25, "paper": len(DEFAULT_MODELS)}
    assert {"iam", "iam (paper+decay=budget)"} <= set(frame["model"])
