"""One PPO update of the project's pipeline, split: sampling, learning, and the learner
connector inside learning (GAE with its value pass, padding).

    .venv/bin/python benchmarks/ppo_update.py            # iam, lstm, gru, fnn, fnn8; paper, tuned
    .venv/bin/python benchmarks/ppo_update.py --models iam,fnn --ppo tuned --iterations 20
    PYTHONPATH=../other-checkout .venv/bin/python benchmarks/ppo_update.py   # another commit

Each model and PPO variant is built as a grid trial builds it (`ppo_config(model, ppo=...)`,
one torch thread, sampling and learning in this process), warmed up ``--warmup`` iterations,
then timed over ``--iterations`` calls of ``algo.train()``; the table gives the medians in ms
and transitions/s (the update's transitions / the median iteration). Sampling is
``EnvRunner.sample``, learning ``LearnerGroup.update``, the connector the learner's
``_make_batch_if_necessary``. To compare two commits, run this script from each checkout in
turn (``PYTHONPATH`` puts a checkout's `rllib_iam` first), alternating, on an idle machine:
absolute rates on a shared VM drift by tens of percent within minutes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import torch
from machine import cpu_name

from rllib_iam.cli import OneLineParser, positive_int
from rllib_iam.models import MODELS
from rllib_iam.training import PPO_VARIANTS, ppo_config

DEFAULT_MODELS = ("iam", "lstm", "gru", "fnn", "fnn8")


def _timed(obj: Any, name: str, times: list[float]) -> None:
    """Wrap ``obj.name`` so that each call's wall time is appended to `times`."""
    original = getattr(obj, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - start)

    setattr(obj, name, call)


def measure(model: str, ppo: str, warmup: int, iterations: int) -> dict[str, float]:
    """Median ms per iteration of `model` under `ppo`: total, sampling, learning, connector."""
    algo = ppo_config(model, seed=0, total_timesteps=10**8, ppo=ppo).build_algo()
    try:
        parts: dict[str, list[float]] = {"sample": [], "learn": [], "connector": []}
        _timed(algo.env_runner, "sample", parts["sample"])
        _timed(algo.learner_group, "update", parts["learn"])
        _timed(algo.learner_group._learner, "_make_batch_if_necessary", parts["connector"])
        transitions = algo.config.train_batch_size_per_learner
        for _ in range(warmup):
            algo.train()
        for times in parts.values():
            times.clear()
        totals = []
        for _ in range(iterations):
            start = time.perf_counter()
            algo.train()
            totals.append(time.perf_counter() - start)
    finally:
        algo.stop()
    row = {k: statistics.median(v) * 1e3 for k, v in parts.items()}
    row["total"] = statistics.median(totals) * 1e3
    row["rate"] = transitions / statistics.median(totals)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0],
                           epilog=__doc__.split("\n", 2)[2],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated (default %(default)s)")
    parser.add_argument("--ppo", default="paper,tuned",
                        help="comma-separated variants (default %(default)s)")
    parser.add_argument("--warmup", type=positive_int, default=3)
    parser.add_argument("--iterations", type=positive_int, default=12)
    args = parser.parse_args(argv)
    models = args.models.split(",")
    variants = args.ppo.split(",")
    if unknown := [m for m in models if m not in MODELS]:
        parser.error(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(MODELS)}")
    if unknown := [v for v in variants if v not in PPO_VARIANTS]:
        parser.error(f"unknown --ppo {', '.join(unknown)}; valid: {', '.join(PPO_VARIANTS)}")
    torch.set_num_threads(1)
    print(f"{cpu_name()}, torch {torch.__version__}, rllib_iam from "
          f"{rllib_iam.__file__.rsplit('/rllib_iam/', 1)[0]}; medians of {args.iterations} "
          f"iterations after {args.warmup}\n")
    print("| model | ppo | transitions/s | ms per update | sampling | learning | "
          "learner connector |")
    print("|---|---|---|---|---|---|---|")
    for ppo in variants:
        for model in models:
            r = measure(model, ppo, args.warmup, args.iterations)
            print(f"| `{model}` | {ppo} | {r['rate']:,.0f} | {r['total']:.0f} | "
                  f"{r['sample']:.0f} | {r['learn']:.0f} | {r['connector']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
