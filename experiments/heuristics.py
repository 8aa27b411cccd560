"""Mean return of the fixed reference policies on the Warehouse, both quirk settings.

    python experiments/heuristics.py [--episodes 2000] [--seed 0] [--out FILE.csv]

Prints a Markdown table (mean ± standard error over the episodes) and writes it as CSV, which
the analysis draws as reference lines. Takes about a second.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from rllib_iam.heuristics import POLICIES, RESULTS_CSV, evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000, help="episodes per policy (>= 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of env and policy draws")
    parser.add_argument("--out", type=Path, default=RESULTS_CSV, help="CSV to write")
    args = parser.parse_args(argv)
    if args.episodes < 2:
        parser.error(f"--episodes must be >= 2, got {args.episodes}")

    rows = []
    print("| policy | quirks | mean return | s.e. | episodes |")
    print("|---|---|---|---|---|")
    for quirks in (True, False):
        for policy in POLICIES:
            mean, se = evaluate(policy, args.episodes, quirks, args.seed)
            rows.append(dict(policy=policy, quirks=quirks, mean_return=round(mean, 3),
                             stderr=round(se, 3), episodes=args.episodes))
            print(f"| {policy} | {quirks} | {mean:.2f} | {se:.2f} | {args.episodes} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
