"""Mean return of the fixed reference policies, both quirk settings, for Warehouse or Traffic.

    python experiments/heuristics.py [--episodes 2000] [--seed 0] [--out FILE.csv]
    python experiments/heuristics.py --env rllib_iam/Traffic-v0 [--episodes 200]

Prints a Markdown table (mean ± standard error over the episodes) and writes it as CSV, which
the analysis draws as reference lines. Warehouse: random, greedy, oracle; about a second.
Traffic: random, the fixed-cycle light with the best period k of a sweep (on other seeds than
the evaluation's), and longest-queue-first; a few minutes of SUMO.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import rllib_iam
from rllib_iam.cli import OneLineParser
from rllib_iam.heuristics import (
    FIXED_CYCLE_SWEEP,
    POLICIES,
    RESULTS_CSV,
    TRAFFIC_CSV,
    FixedCycle,
    LongestQueueFirst,
    RandomLight,
    best_fixed_cycle,
    evaluate,
    evaluate_traffic,
)

ENVS = (rllib_iam.WAREHOUSE_ID, rllib_iam.TRAFFIC_ID)
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
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=rllib_iam.WAREHOUSE_ID, help=f"one of {', '.join(ENVS)}")
    parser.add_argument("--episodes", type=int,
                        help="episodes per policy (>= 2; default 2000 Warehouse, 200 Traffic)")
    parser.add_argument("--sweep-episodes", type=int, default=32,
                        help="Traffic: episodes per period k of the fixed-cycle sweep")
    parser.add_argument("--seed", type=int, default=0, help="seed of env and policy draws")
    parser.add_argument("--out", type=Path, help="CSV to write (default results/heuristics/)")
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
    out = args.out or (TRAFFIC_CSV if traffic else RESULTS_CSV)

    rows = (traffic_rows(episodes, args.seed, args.sweep_episodes) if traffic
            else warehouse_rows(episodes, args.seed))
    print("| policy | quirks | mean return | s.e. | episodes |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['policy']} | {row['quirks']} | {row['mean_return']:.2f} | "
              f"{row['stderr']:.2f} | {row['episodes']} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
