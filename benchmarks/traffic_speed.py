"""Traffic stepping speed on real SUMO: one env, and the vector env at several N.

    python benchmarks/traffic_speed.py [--seconds 10] [--sizes 1,2,4,8] [--backend libsumo]

Random actions, autoreset included (a new episode loads SUMO again every 250 steps); the time
to start the simulations is measured apart. Prints a Markdown table of env steps (transitions)
per second and the machine. With libsumo, N = 1 runs in this process; at N > 1 sub-env 0 runs
here and the others in one worker process each, so N > cores shares the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib.metadata import version

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import gymnasium as gym
import numpy as np
from machine import cpu_name

import rllib_iam
from rllib_iam.envs.traffic import TrafficVectorEnv


def single_rate(seconds: float, backend: str) -> tuple[float, float]:
    """``gymnasium.make`` env: (start seconds, steps/s)."""
    env = gym.make(rllib_iam.TRAFFIC_ID, backend=backend)
    start = time.perf_counter()
    env.reset(seed=0)
    started = time.perf_counter() - start
    actions = np.random.default_rng(1).integers(0, 2, 4096).tolist()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions[steps % 2048 : steps % 2048 + 256]:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        steps += 256
    rate = steps / (time.perf_counter() - start)
    env.close()
    return started, rate


def vector_rate(n: int, seconds: float, backend: str) -> tuple[float, float]:
    """`TrafficVectorEnv` of N: (start seconds, transitions/s)."""
    env = TrafficVectorEnv(n, backend=backend)
    start = time.perf_counter()
    env.reset(seed=0)
    started = time.perf_counter() - start
    actions = np.random.default_rng(1).integers(0, 2, (64, n))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(16):
            env.step(actions[(steps + i) % 64])
        steps += 16
    rate = steps * n / (time.perf_counter() - start)
    env.close()
    return started, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="time per measurement")
    parser.add_argument("--sizes", default="1,2,4,8", help="vector sizes N")
    parser.add_argument("--backend", default="libsumo", choices=["libsumo", "traci"])
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{cpu_name()}, {cpus} cpus, load average {load} at start; python "
          f"{platform.python_version()}, SUMO {version('eclipse-sumo')} ({args.backend})")
    print("| env | N | start (s) | env steps/s |")
    print("|---|---|---|---|")
    started, rate = single_rate(args.seconds, args.backend)
    print(f"| gymnasium.make (one env) | 1 | {started:.2f} | {rate:,.0f} |", flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        started, rate = vector_rate(n, args.seconds, args.backend)
        print(f"| TrafficVectorEnv | {n} | {started:.2f} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
