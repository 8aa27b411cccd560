"""What a grid will cost before it runs: `figure5.py --estimate`.

Each model of the grid is built as its trials will be (`rllib_iam.grid.trial_ppo_config`, the
first seed), trained for one warm-up update and then `updates` timed ones in this process; its
rate in transitions per second gives the hours per trial, and the hours per trial give the
grid's CPU-hours and its wall time at the concurrency Tune will use. Nothing is written: no
experiment folder, no checkpoint.

The numbers are this machine's as it is now: whatever else runs on it slows them (the table
says the load average), and a trial beside others on a full machine runs slower than alone.
"""

from __future__ import annotations

import heapq
import math
import os
import shutil
import time
from dataclasses import dataclass

from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from rllib_iam.gridspec import GridSpec
from rllib_iam.session import start_ray


@dataclass(frozen=True)
class ModelCost:
    """One model's measured speed and what its trials will take."""

    model: str
    transitions_per_s: float
    """env transitions per second over the timed updates (sampling and learning)"""
    trial_hours: float
    """wall hours of one trial of the grid's budget at that rate"""
    trials: int
    """trials of this model in the grid (its seeds)"""
    cpus_per_trial: int

    @property
    def cpu_hours(self) -> float:
        return self.trial_hours * self.trials * self.cpus_per_trial


def lanes_wall_hours(trial_hours: list[float], lanes: int) -> float:
    """Wall hours of trials run `lanes` at a time, each next trial starting on the lane that
    frees first (longest first, as a planner would order them)."""
    if not trial_hours:
        return 0.0
    busy = [0.0] * max(1, min(lanes, len(trial_hours)))
    for hours in sorted(trial_hours, reverse=True):
        heapq.heappush(busy, heapq.heappop(busy) + hours)
    return max(busy)


def measure(spec: GridSpec, model: str, updates: int) -> float:
    """Transitions per second of `model`'s first trial of `spec` over `updates` updates, after
    one untimed update."""
    from rllib_iam.grid import trial_ppo_config

    config = trial_ppo_config(
        {"model": model, "seed": spec.first_seed, **spec.trial_space()}
    )
    algo = config.build_algo()
    try:
        before = algo.train()[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
        start = time.perf_counter()
        for _ in range(updates):
            result = algo.train()
        seconds = time.perf_counter() - start
        after = result[ENV_RUNNER_RESULTS][NUM_ENV_STEPS_SAMPLED_LIFETIME]
    finally:
        algo.stop()
        # a Trainable outside Tune makes itself an (empty) folder under ~/ray_results
        shutil.rmtree(algo.logdir, ignore_errors=True)
    return (after - before) / seconds


def estimate(spec: GridSpec, updates: int = 3, log=print) -> list[ModelCost]:
    """Every model of `spec` measured in turn (`measure`); `log` gets a line per model."""
    start_ray()
    costs = []
    for model in spec.models:
        rate = measure(spec, model, updates)
        cost = ModelCost(model, rate, spec.timesteps / rate / 3600, spec.seeds,
                         spec.cpus_per_trial)
        log(f"{model}: {rate:,.0f} transitions/s, {cost.trial_hours:.2f} h per trial")
        costs.append(cost)
    return costs


def concurrency(spec: GridSpec, cpus: float) -> int:
    """Trials Tune runs at once: `spec.max_concurrent`, or as many as `cpus` hold."""
    fit = max(1, math.floor(cpus / spec.cpus_per_trial))
    return min(spec.max_concurrent, fit) if spec.max_concurrent else fit


def report(spec: GridSpec, costs: list[ModelCost], cpus: float) -> str:
    """The estimate as a Markdown table and a closing line (CPU-hours, wall time)."""
    lanes, load = concurrency(spec, cpus), os.getloadavg()[0]
    rows = [
        f"Estimate for {len(spec.models) * spec.seeds} trials of {spec.timesteps:,} transitions "
        f"({spec.ppo} PPO, {spec.env}), measured on {os.cpu_count()} CPUs at load average "
        f"{load:.1f}:",
        "",
        "| model | transitions/s | hours per trial | trials | CPU-hours |",
        "|---|---|---|---|---|",
    ]
    for c in costs:
        rows.append(f"| {c.model} | {c.transitions_per_s:,.0f} | {c.trial_hours:.2f} | "
                    f"{c.trials} | {c.cpu_hours:.2f} |")
    trial_hours = [c.trial_hours for c in costs for _ in range(c.trials)]
    total = sum(c.cpu_hours for c in costs)
    wall = lanes_wall_hours(trial_hours, lanes)
    rows += ["", f"In all {total:.2f} CPU-hours; about {wall:.2f} h of wall time at {lanes} "
             f"trial(s) at once ({cpus:g} CPUs), if each runs as fast beside the others."]
    if load > (os.cpu_count() or 1):
        rows.append("This machine was busy (load average above its CPUs): on an idle one the "
                    "trials run faster than measured here.")
    return "\n".join(rows)
