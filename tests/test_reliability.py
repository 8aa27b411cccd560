"""Faults injected into real runs of experiments/figure5.py; each must cost nothing.

The faults come from tests/faults/sitecustomize.py, which a test puts on PYTHONPATH: every
process of the run imports it, and the first one to reach a given Warehouse step dies there.
The project's own code has no crash switch. Budgets are 4 iterations of 1024 transitions with
a checkpoint after each (the smoke profile's frequency), so a failure lands between checkpoints.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from analysis.load import AnalysisWarning, load_runs
from rllib_iam.grid import checkpoint_damage
from tests.test_figure5 import ROOT, SCRIPT, figure5, iterations

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


def test_the_fault_injector_is_inert_without_its_variable(monkeypatch):
    monkeypatch.delenv("RLLIB_IAM_FAULT", raising=False)
    monkeypatch.syspath_prepend(str(FAULTS))
    finders = list(sys.meta_path)
    spec = importlib.util.spec_from_file_location("fault_injector", FAULTS / "sitecustomize.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert sys.meta_path == finders  # nothing hooked: the project runs untouched


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


def wait_for(condition, timeout: float = 420.0, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run")
        time.sleep(every)


def killed_mid_grid(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A 2-trial grid (one at a time, one env runner each) in which the first trial's env
    runner dies mid-iteration, then the driver gets SIGKILL while the second trial runs."""
    exp = tmp_path / "grid"
    first, second = exp / "fnn_seed0", exp / "fnn_seed1"
    marker = tmp_path / "died"
    driver = subprocess.Popen(
        [*SCRIPT, *BUDGET, "--models", "fnn", "--seeds", "2", "--max-concurrent", "1",
         "--cpus-per-trial", "2", "--storage-path", str(tmp_path), "--name", "grid"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=fault_env(marker, MID_THIRD_ITERATION))
    try:
        def mid_grid() -> bool:
            try:  # a line may be half written while we read
                done = (first / "result.json").exists() and records(first) and (
                    records(first)[-1]["figure5"]["transitions"] == 4096)
            except ValueError:
                return False
            return bool(done and (second / "result.json").exists()
                        and len(list(second.glob("checkpoint_*"))) >= 2)

        wait_for(mid_grid)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    # the first trial's env runner died (not the trial), was restarted, and the trial finished
    assert "SingleAgentEnvRunner" in marker.read_text()
    assert not (first / "error.txt").exists()
    sampled = [r["figure5"]["transitions"] for r in records(first)]
    assert sampled == sorted(sampled) and sampled[-1] == 4096
    assert len(iterations(second)) < 4  # killed while the second trial ran
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

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
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


def test_runner_death_driver_kill_and_half_written_checkpoints_cost_no_iteration(tmp_path, capfd):
    exp, first, second = killed_mid_grid(tmp_path)
    finished = (first / "result.json").read_bytes()
    *older, before, latest = sorted(second.glob("checkpoint_*"))
    assert before.name == f"checkpoint_{len(older):06d}"
    cut_in_half(latest)
    assert "algorithm_state.pkl unreadable" in checkpoint_damage(latest)
    assert checkpoint_damage(before) is None
    # a damaged newest checkpoint: the one before it is restored instead, with a warning
    # checkpoint_<k> holds iteration k + 1 (Tune numbers checkpoints from 0; one per iteration)
    assert restored_iteration(second, latest) == len(older) + 1
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
    runner_died, restarted = (frame[frame["seed"] == seed] for seed in (0, 1))
    # iterations while the dead runner waited for its restart sample nothing, so the first
    # trial took more than 4; none is lost or counted twice in either trial
    n = len(runner_died)
    assert list(runner_died["iteration"]) == list(range(1, n + 1)) and n >= 4
    assert runner_died["transitions"].is_monotonic_increasing
    assert list(restarted["iteration"]) == [1, 2, 3, 4]
    assert list(restarted["transitions"]) == [1024, 2048, 3072, 4096]
    assert bool(frame["complete"].all())
    assert any("fnn_seed1: iteration(s)" in p and "logged more than once" in p for p in problems)
