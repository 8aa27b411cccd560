"""PPO training throughput of the image models on Flickering Pong, as the grid trains them.

Run (one process; prints a Markdown table; 10-15 minutes on a busy 2-core VM):

    .venv/bin/python benchmarks/atari_throughput.py
    .venv/bin/python benchmarks/atari_throughput.py --models iam_attention,lstm --iterations 5

For each model, ``ppo_config(model, env, ...)`` with the paper's Atari PPO (8 envs x 128 steps
= 1024 transitions per update, 3 epochs of 4 minibatches of 256, sequences of 8) is built in
this process (one torch thread, sampling and learning in one process, as a grid trial with
``--cpus-per-trial 1``), warmed up for one update, then timed over ``--iterations`` updates.
Rates are 1024 / the median update time (sampling and learning together). A first line gives
the env alone (the same 8-env vector env, random actions) for the ceiling; the load average is
printed at the start and the end, since other jobs on a small machine move these numbers.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
import warnings

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import gymnasium as gym
import numpy as np
import ray
import torch
from machine import cpu_name

import rllib_iam  # noqa: F401  (registers the envs)
from rllib_iam.grid import default_models_for
from rllib_iam.models import count_params, env_config_for
from rllib_iam.training import ppo_config

UPDATE = 8 * 128


def env_rate(env_id: str, seconds: float) -> float:
    """Transitions/s of the 8-env sync vector env alone, random actions."""
    envs = gym.make_vec(env_id, num_envs=8, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, envs.single_action_space.n, (64, 8))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        envs.step(actions[steps % 64])
        steps += 1
    rate = steps * 8 / (time.perf_counter() - start)
    envs.close()
    return rate


def model_rate(model: str, env_id: str, iterations: int) -> dict[str, float]:
    algo = ppo_config(model, env_id, total_timesteps=10**7).build_algo()
    try:
        algo.train()  # warm-up
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            algo.train()
            times.append(time.perf_counter() - start)
        params = count_params(algo.get_module())
    finally:
        algo.stop()
    update = statistics.median(times)
    return {"params": params, "update_s": update, "rate": UPDATE / update}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="rllib_iam/FlickeringPong-v0", help="Atari env id")
    parser.add_argument("--models", help="comma-separated (default: the env's grid models)")
    parser.add_argument("--iterations", type=int, default=5, help="timed updates per model")
    parser.add_argument("--env-seconds", type=float, default=10.0, help="time for the env line")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else list(default_models_for(args.env))
    warnings.filterwarnings("ignore")
    logging.getLogger("ray").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{cpu_name()}, {cpus} cpus, load average {load} at start; python "
          f"{platform.python_version()}, torch {torch.__version__} (1 thread), {args.env}, "
          f"{args.iterations} timed updates of {UPDATE} transitions per model")
    print(f"env alone (8 envs, random actions): {env_rate(args.env, args.env_seconds):,.0f} "
          "transitions/s")
    print("| model | frames stacked | parameters | transitions/s | s per update |")
    print("|---|---|---|---|---|")
    for model in models:
        r = model_rate(model, args.env, args.iterations)
        stack = env_config_for(model, args.env).get("frame_stack", 1)
        print(f"| `{model}` | {stack} | {r['params']:,} | {r['rate']:.0f} | {r['update_s']:.1f} |",
              flush=True)
    print("load average at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    ray.shutdown()


if __name__ == "__main__":
    main()
