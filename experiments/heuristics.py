"""Mean return of the fixed reference policies, both quirk settings, for Warehouse or Traffic.

    python experiments/heuristics.py [--episodes 2000] [--seed 0] [--out FILE.csv]
    python experiments/heuristics.py --env rllib_iam/Traffic-v0 [--episodes 200]

Prints a Markdown table (mean ± standard error over the episodes) and writes it as CSV
(default ``runs/heuristics/<env>.csv``). The analysis draws the committed tables,
``results/heuristics/<env>.csv``, as reference lines; an existing file is never overwritten
unless ``--overwrite`` is given (regenerating a committed table:
``--out results/heuristics/warehouse.csv --overwrite``). Warehouse: random, greedy, oracle;
about a second. Traffic: random, the fixed-cycle light with the best period k of a sweep (on
other seeds than the evaluation's), and longest-queue-first; a few minutes of SUMO.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
from rllib_iam.cli import OneLineParser
from rllib_iam.envs.registry import SPECS
from rllib_iam.heuristics import (
    FIXED_CYCLE_SWEEP,
    POLICIES,
    FixedCycle,
    LongestQueueFirst,
    RandomLight,
    best_fixed_cycle,
    evaluate,
    evaluate_traffic,
)

ENVS = tuple(env for env, spec in SPECS.items() if spec.heuristics == "rllib_iam.heuristics")
"""The envs whose reference policies live in `rllib_iam.heuristics` (their `EnvSpec` says so):
Warehouse and Traffic."""
DEFAULT_OUT = Path("runs") / "heuristics"
"""Where a run writes by default (relative to the working directory), away from the committed
tables in results/heuristics/ that the analysis reads."""
EPILOG = """examples:
  python experiments/heuristics.py                  # writes runs/heuristics/warehouse.csv
  python experiments/heuristics.py --episodes 200 --out h.csv
  python experiments/heuristics.py --env rllib_iam/Traffic-v0 --episodes 50
  # regenerate the committed table the analysis reads:
  python experiments/heuristics.py --out results/heuristics/warehouse.csv --overwrite
"""
SWEEP_SEED = 100_000
"""Traffic's period sweep runs on seeds from here, apart from the evaluation's."""


def warehouse_rows(episodes: int, seed: int) -> list[dict]:
    rows = []
    for quirks in (True, False):
        for policy in POLICIES:
            mean, se = evaluate(policy, episodes, quirks, seed)
            rows.append(dict(policy=policy, quirks=quirks, mean_return=round(mean, 3),
                             stderr=round(se, 3), episodes=episodes))
    return rows


def traffic_rows(episodes: int, seed: int, sweep_episodes: int) -> list[dict]:
    best, means = best_fixed_cycle(FIXED_CYCLE_SWEEP, sweep_episodes, SWEEP_SEED)
    print(f"fixed-cycle sweep ({sweep_episodes} episodes each, seeds from {SWEEP_SEED}): "
          + ", ".join(f"k={k}: {m:.2f}" for k, m in means.items()) + f"; best k={best}")
    rows = []
    for quirks in (True, False):
        for policy in (RandomLight(seed), FixedCycle(best), LongestQueueFirst()):
            mean, se = evaluate_traffic(policy, episodes, quirks, seed)
            rows.append(dict(policy=policy.name, quirks=quirks, mean_return=round(mean, 3),
                             stderr=round(se, 3), episodes=episodes))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0], epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=rllib_iam.WAREHOUSE_ID,
                        help=f"one of {', '.join(ENVS)} (default %(default)s)")
    parser.add_argument("--episodes", type=int,
                        help="episodes per policy (>= 2; default 2000 Warehouse, 200 Traffic)")
    parser.add_argument("--sweep-episodes", type=int, default=32,
                        help="Traffic: episodes per period k of the fixed-cycle sweep "
                             "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of env and policy draws (default %(default)s)")
    parser.add_argument("--out", type=Path,
                        help=f"CSV to write (default {DEFAULT_OUT}/<env>.csv, e.g. "
                             f"{DEFAULT_OUT}/warehouse.csv)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file (refused otherwise)")
    args = parser.parse_args(argv)
    if args.env not in ENVS:
        parser.error(f"unknown env {args.env!r}; valid: {', '.join(ENVS)}")
    traffic = args.env == rllib_iam.TRAFFIC_ID
    episodes = args.episodes or (200 if traffic else 2000)
    if episodes < 2:
        parser.error(f"--episodes must be >= 2, got {episodes}")
    if args.sweep_episodes < 2:
        parser.error(f"--sweep-episodes must be >= 2, got {args.sweep_episodes}")
    if args.seed < 0:
        parser.error(f"--seed must be 0 or more, got {args.seed}")
    out = args.out or DEFAULT_OUT / Path(SPECS[args.env].heuristics_table).name
    if out.is_dir():
        parser.error(f"--out {out} is a folder; give a CSV file name")
    if out.exists() and not args.overwrite:
        parser.error(f"{out} already exists; pass --overwrite to replace it, or another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parser.error(f"cannot create the folder of --out {out}: {err.strerror or err}")

    rows = (traffic_rows(episodes, args.seed, args.sweep_episodes) if traffic
            else warehouse_rows(episodes, args.seed))
    print("| policy | quirks | mean return | s.e. | episodes |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['policy']} | {row['quirks']} | {row['mean_return']:.2f} | "
              f"{row['stderr']:.2f} | {row['episodes']} |")
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
