"""Warehouse stepping speed on one core: the literal scalar implementation one env at a time
against the numpy vector env at several N.

    taskset -c 0 python benchmarks/env_speed.py [--seconds 4] [--slice 0.25]

Random actions, autoreset included; prints a Markdown table of env steps per second. Shared
VMs drift in speed by tens of percent within seconds, so for each N the scalar loop and the
vector env alternate in short slices, and the table gives the medians over slices: of each
rate, and of each pair's own vector/scalar ratio (with the range of those ratios).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

try:
    import rllib_iam  # noqa: F401
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import numpy as np
from machine import cpu_name

from rllib_iam.envs.warehouse import EPISODE_LENGTH, WarehouseVectorEnv
from rllib_iam.envs.warehouse_scalar import ScalarWarehouse


def scalar_rate(seconds: float) -> float:
    env = ScalarWarehouse(np.random.default_rng(0))
    env.reset()
    actions = np.random.default_rng(1).integers(0, 4, 100_000).tolist()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for a in actions[steps % 50_000 : steps % 50_000 + 1000]:
            if env.t >= EPISODE_LENGTH:
                env.reset()
            env.step(a)
        steps += 1000
    return steps / (time.perf_counter() - start)


def vector_rate(n: int, seconds: float) -> float:
    env = WarehouseVectorEnv(n)
    env.reset(seed=0)
    actions = np.random.default_rng(1).integers(0, 4, (64, n))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(16):
            env.step(actions[(steps + i) % 64])
        steps += 16
    return steps * n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="time per N (both sides)")
    parser.add_argument("--slice", type=float, default=0.25, help="time per measurement")
    parser.add_argument("--sizes", default="1,8,64,1024,4096", help="vector sizes N")
    args = parser.parse_args()
    if not 0 < args.slice <= args.seconds / 2:
        parser.error("--slice must be > 0 and at most half of --seconds")
    pairs = int(args.seconds / (2 * args.slice))
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"{cpu_name()}, python {platform.python_version()}, numpy {np.__version__}, "
          f"cpus {cpus}")
    print(f"medians of {pairs} alternating pairs of {args.slice:g} s measurements per N")
    print("| implementation | N | env steps/s | vs scalar (range) |")
    print("|---|---|---|---|")
    rows, scalar = [], []
    for n in (int(s) for s in args.sizes.split(",")):
        paired = [(scalar_rate(args.slice), vector_rate(n, args.slice)) for _ in range(pairs)]
        base, rate = np.array(paired).T
        scalar.extend(base)
        ratios = rate / base
        rows.append(f"| vector | {n} | {np.median(rate):,.0f} | {np.median(ratios):.1f}x "
                    f"({ratios.min():.1f}-{ratios.max():.1f}x) |")
    print(f"| scalar (one env at a time) | 1 | {np.median(scalar):,.0f} | 1.0x |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
