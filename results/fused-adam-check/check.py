"""Fused Adam against RLlib's per-tensor Adam: final returns at 0.5e6 transitions, `tuned` PPO.

    .venv/bin/python results/fused-adam-check/check.py

Reads the tidy trials of this folder (`fused/`: seeds 0-2 with ``adam_fused``; `per-tensor/`:
seed 0 without it) and seeds 1-5 of `results/warehouse-tuned` (1e6-transition trials whose lr
and ε decay on the paper's clock, so their first 0.5e6 transitions are what a 0.5e6 trial
runs). Final return: the mean episode return over the last 10% of 0.5e6 transitions. Prints a
Markdown table with Welch's t-test and the exact Mann-Whitney U test per model.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd
from scipy import stats

HERE = Path(__file__).resolve().parent
TUNED = HERE.parent / "warehouse-tuned" / "trials"
BUDGET = 500_000


def final_return(path: Path) -> float:
    """Mean episode return over the transitions in (0.9 * BUDGET, BUDGET] of a tidy trial."""
    curve = pd.read_csv(path)
    if curve["transitions"].max() < BUDGET:
        raise SystemExit(f"{path}: ends before {BUDGET:,} transitions")
    window = curve[(curve["transitions"] > 0.9 * BUDGET) & (curve["transitions"] <= BUDGET)]
    return float(window["episode_return_mean"].mean())


def main() -> None:
    print("| model | Adam | seeds | final returns | mean ± std | fused - per-tensor | Welch p "
          "| Mann-Whitney p (exact) |")
    print("|---|---|---|---|---|---|---|---|")
    for model in ("iam", "fnn"):
        per_tensor = [final_return(HERE / "per-tensor" / f"{model}_seed0.csv.gz")] + [
            final_return(TUNED / f"{model}_seed{seed}.csv.gz") for seed in range(1, 6)]
        fused = [final_return(HERE / "fused" / f"{model}_seed{seed}.csv.gz") for seed in range(3)]
        welch = stats.ttest_ind(fused, per_tensor, equal_var=False).pvalue
        mann_whitney = stats.mannwhitneyu(fused, per_tensor, method="exact").pvalue
        for name, seeds, values in (("per-tensor (RLlib's)", "0-5", per_tensor),
                                    ("fused", "0-2", fused)):
            cells = ["", "", ""]
            if name == "fused":
                diff = statistics.mean(fused) - statistics.mean(per_tensor)
                cells = [f"{diff:+.2f}", f"{welch:.2f}", f"{mann_whitney:.2f}"]
            print(f"| `{model}` | {name} | {seeds} | {', '.join(f'{v:.2f}' for v in values)} | "
                  f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
