"""Faults injected into real runs of experiments/figure5.py; each must cost nothing.

The faults come from tests/faults/sitecustomize.py, which a test puts on PYTHONPATH: every
process of the run imports it, and the first one to reach a given Warehouse step dies there.
The project's own code has no crash switch. Budgets are 4 iterations of 1024 transitions with
a checkpoint after each (the smoke profile's frequency), so a failure lands between checkpoints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pyarrow.fs
import pytest
from ray.tune.logger import JsonLoggerCallback

from analysis.load import AnalysisWarning, load_runs
from rllib_iam.tune.trials import CsvLog, JsonLog, checkpoint_damage
from tests.test_figure5 import ROOT, SCRIPT, figure5, iterations

pytestmark = pytest.mark.slow  # every test here starts Ray and trains

FAULTS = ROOT / "tests" / "faults"
BUDGET = ["--profile", "smoke", "--timesteps", "4096", "--no-analysis"]
STEPS_PER_ITERATION = 128  # vector-env steps of one iteration (8 envs x 128 = 1024 transitions)
MID_THIRD_ITERATION = 2 * STEPS_PER_ITERATION + 10


def fault_env(marker: Path, at_step: int) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(FAULTS), "RLLIB_IAM_FAULT": f"{marker}:{at_step}"}


def records(trial: Path) -> list[dict]:
    return [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]


def analysed(experiment: Path) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnalysisWarning)
        frame = load_runs(str(experiment))
    return frame, [str(w.message) for w in caught if w.category is AnalysisWarning]


def test_the_fault_injector_is_inert_without_its_variable():
    run = subprocess.run([*SCRIPT, "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(FAULTS)})
    assert run.returncode == 0 and "--resume" in run.stdout


def test_a_dead_env_runner_is_restarted_and_the_trial_finishes(tmp_path):
    marker = tmp_path / "died"
    run = subprocess.run(
        [*SCRIPT, *BUDGET, "--models", "fnn", "--cpus-per-trial", "2",
         "--storage-path", str(tmp_path), "--name", "runner"],
        cwd=ROOT, capture_output=True, text=True, env=fault_env(marker, MID_THIRD_ITERATION))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "LeanEnvRunner" in marker.read_text()  # the env runner, not the trial, died
    trial = tmp_path / "runner" / "fnn_seed0"
    assert not (trial / "error.txt").exists()  # the trial itself never failed
    history = records(trial)
    sampled = [r["figure5"]["transitions"] for r in history]
    assert sampled[-1] == 4096 and sampled == sorted(sampled)
    frame, problems = analysed(tmp_path / "runner")
    assert problems == [] and bool(frame["complete"].all())


def test_a_dead_trial_process_is_retried_from_its_checkpoint(tmp_path):
    marker = tmp_path / "died"
    run = subprocess.run(
        [*SCRIPT, *BUDGET, "--models", "fnn", "--storage-path", str(tmp_path),
         "--name", "trial"],
        cwd=ROOT, capture_output=True, text=True, env=fault_env(marker, MID_THIRD_ITERATION))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Figure5Trial" in marker.read_text()  # the trial's own process died
    assert "1 of 1 trials finished" in run.stdout
    trial = tmp_path / "trial" / "fnn_seed0"
    assert iterations(trial) == [1, 2, 3, 4]  # restored after 2: nothing lost, nothing twice
    assert records(trial)[-1]["figure5"]["transitions"] == 4096
    frame, problems = analysed(tmp_path / "trial")
    assert list(frame["iteration"]) == [1, 2, 3, 4]
    assert problems == ["trial/fnn_seed0: finished after a failure that Tune retried (error.txt)"]


def retried_trial(tmp_path: Path, driver_lines: int | None, stored_lines: int) -> SimpleNamespace:
    """A checkpointed trial as Tune's loggers see it on a retry: the driver's own log folder
    with `driver_lines` results (None: no file, as for a new driver) and the storage copy with
    `stored_lines` (the storage lags: it is synced in the background, throttled)."""
    driver, stored = tmp_path / "driver", tmp_path / "storage"
    for folder, lines in ((driver, driver_lines), (stored, stored_lines)):
        folder.mkdir(parents=True)
        if lines is not None:
            for name in ("result.json", "progress.csv"):
                (folder / name).write_text("".join(f"{i}\n" for i in range(1, lines + 1)))
    storage = SimpleNamespace(trial_fs_path=str(stored),
                              storage_filesystem=pyarrow.fs.LocalFileSystem())
    return SimpleNamespace(checkpoint=object(), local_path=str(driver), storage=storage)


def log_after_retry(logger, trial: SimpleNamespace, name: str) -> list[str]:
    logger._restore_from_remote(name, trial)
    return Path(trial.local_path, name).read_text().split()


def test_a_retried_trial_keeps_the_results_logged_since_the_last_sync(tmp_path):
    trial = retried_trial(tmp_path, driver_lines=2, stored_lines=1)
    assert log_after_retry(JsonLoggerCallback(), trial, "result.json") == ["1"]  # Tune's loses 2
    trial = retried_trial(tmp_path / "ours", driver_lines=2, stored_lines=1)
    assert log_after_retry(JsonLog(), trial, "result.json") == ["1", "2"]
    assert log_after_retry(CsvLog(), trial, "progress.csv") == ["1", "2"]


def test_a_new_driver_still_gets_the_stored_log(tmp_path):
    trial = retried_trial(tmp_path, driver_lines=None, stored_lines=3)
    assert log_after_retry(JsonLog(), trial, "result.json") == ["1", "2", "3"]
    assert log_after_retry(CsvLog(), trial, "progress.csv") == ["1", "2", "3"]


def wait_for(condition, timeout: float = 420.0, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run")
        time.sleep(every)


def killed_mid_grid(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A 2-trial grid (one at a time) whose driver got SIGKILL while the second trial ran."""
    exp = tmp_path / "grid"
    first, second = exp / "fnn_seed0", exp / "fnn_seed1"
    # Tune saves its experiment state (which checkpoints each trial has) at most every 10 s by
    # default; a trial of 4 short iterations can write two checkpoints between two saves, and a
    # driver killed then leaves a state that knows none of them (the resume then restarts the
    # trial without restoring anything). Saving at every step, and killing only once a save
    # followed the second checkpoint, makes the kill land where the test means it to.
    driver = subprocess.Popen(
        [*SCRIPT, *BUDGET, "--models", "fnn", "--seeds", "2", "--max-concurrent", "1",
         "--storage-path", str(tmp_path), "--name", "grid"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0"})
    try:
        def mid_grid() -> bool:
            done = (first / "result.json").exists() and len(iterations(first)) == 4
            checkpoints = sorted(second.glob("checkpoint_*"))
            states = sorted(exp.glob("experiment_state-*.json"))
            return (done and (second / "result.json").exists() and len(checkpoints) >= 2
                    and bool(states)
                    and states[-1].stat().st_mtime_ns > checkpoints[1].stat().st_mtime_ns)

        wait_for(mid_grid, every=0.1)  # an iteration takes well under a second here
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert len(iterations(second)) < 4, "the second trial finished before the kill"
    return exp, first, second


def cut_in_half(checkpoint: Path) -> None:
    state = checkpoint / "algorithm_state.pkl"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # a cut-off write


def restored_iteration(trial: Path, checkpoint: Path) -> int:
    """Restore the trial from ``checkpoint`` as Tune does, in this process; its iteration."""
    import ray
    from ray.train._internal.checkpoint_manager import _TrainingResult
    from ray.tune import Checkpoint

    from rllib_iam.grid import Figure5Trial
    from rllib_iam.session import start_ray

    started = not ray.is_initialized()
    start_ray(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        algo = Figure5Trial(config=json.loads((trial / "params.json").read_text()))
        algo.restore(_TrainingResult(checkpoint=Checkpoint.from_directory(str(checkpoint)),
                                     metrics={}))
        iteration = algo.iteration
        algo.stop()
    finally:
        if started:
            ray.shutdown()
    return iteration


def test_driver_killed_mid_grid_then_resume_past_half_written_checkpoints(tmp_path, capfd):
    exp, first, second = killed_mid_grid(tmp_path)
    finished = (first / "result.json").read_bytes()
    # Tune keeps the newest 2 (`num_to_keep`); on a slow machine the oldest may be gone already
    *older, before, latest = sorted(second.glob("checkpoint_*"))
    cut_in_half(latest)
    assert "algorithm_state.pkl unreadable" in checkpoint_damage(latest)
    assert checkpoint_damage(before) is None
    # a damaged newest checkpoint: the one before it is restored instead, with a warning
    # checkpoint_<k> holds iteration k + 1 (Tune numbers checkpoints from 0; one per iteration)
    assert restored_iteration(second, latest) == int(before.name.split("_")[1]) + 1
    err = capfd.readouterr().err
    assert f"fnn_seed1: {latest.name} is damaged (algorithm_state.pkl unreadable" in err
    assert f"fnn_seed1: restored from {before.name}" in err

    # every checkpoint damaged: whichever one Tune restores, the trial starts again
    for checkpoint in [*older, before]:
        cut_in_half(checkpoint)
    run = figure5(*BUDGET, "--storage-path", str(tmp_path), "--name", "grid", "--resume")
    assert "2 of 2 trials finished" in run.stdout
    assert (first / "result.json").read_bytes() == finished  # the finished trial was not rerun
    assert "is damaged (algorithm_state.pkl unreadable" in run.stderr
    assert "fnn_seed1: no intact checkpoint; the trial starts again" in run.stderr
    frame, problems = analysed(exp)
    for seed in (0, 1):
        rows = frame[frame["seed"] == seed]
        assert list(rows["iteration"]) == [1, 2, 3, 4], seed  # none lost, each counted once
        assert list(rows["transitions"]) == [1024, 2048, 3072, 4096], seed
        assert bool(rows["complete"].all())
    assert any("fnn_seed1: iteration(s)" in p and "logged more than once" in p for p in problems)


def test_ctrl_c_stops_the_grid_says_so_and_resume_finishes_it(tmp_path):
    """SIGINT to the driver, as Ctrl-C in a terminal: Tune saves its state and stops; the
    script names the trial stopped (not finished) and exits 1; `--resume` completes it."""
    exp = tmp_path / "grid"
    trial = exp / "fnn_seed0"
    grid = ["--profile", "smoke", "--timesteps", "8192", "--no-analysis", "--models", "fnn",
            "--storage-path", str(tmp_path), "--name", "grid"]
    driver = subprocess.Popen([*SCRIPT, *grid], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        wait_for(lambda: driver.poll() is not None or len(list(trial.glob("checkpoint_*"))) >= 2)
        assert driver.poll() is None, driver.communicate()[0][-2000:]
        os.kill(driver.pid, signal.SIGINT)
        out, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 1, out[-2000:]
    assert "0 of 1 trials finished, 1 stopped before their budget" in out
    assert len(iterations(trial)) < 8

    run = figure5(*grid, "--resume")
    assert "1 of 1 trials finished;" in run.stdout
    frame, _ = analysed(exp)
    assert list(frame["iteration"]) == list(range(1, 9))  # each iteration once
