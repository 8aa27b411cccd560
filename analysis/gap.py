"""What perfect information is worth: a model on a fully observable twin against every model
on the POMDP, at the same budget.

    python -m analysis.gap results/memory-gap results/warehouse-tuned [--model fnn]

The first RUNS hold the twin's trials (e.g. `rllib_iam/WarehouseTwin-v0`), the second the
POMDP's; both are read as `analysis.figure5` reads them, and only finished trials count. The
table gives each POMDP model's mean final return (the last 10% of the budget), the twin
model's, and the gap (twin minus POMDP): how much of a model's shortfall perfect information
of the hidden state would remove. A gap near 0 for the memoryless model says the task, at this
budget, rewards memory little.
"""

from __future__ import annotations

import sys
import warnings

import pandas as pd

from analysis.load import AnalysisWarning, ResultsError, load_runs, warnings_to_stderr
from analysis.stats import env_label, final_returns
from rllib_iam.cli import OneLineParser


def gap_table(twin: pd.DataFrame, pomdp: pd.DataFrame, model: str = "fnn") -> pd.DataFrame:
    """One row per POMDP model: its mean final return over finished seeds, the twin `model`'s,
    and the gap; raises `ResultsError` where either side has no finished trial."""
    twin_finals = final_returns(twin).dropna(subset=["final_return"])
    twin_finals = twin_finals[twin_finals["model"] == model]
    if twin_finals.empty:
        raise ResultsError(f"no finished {model} trial among the twin's runs")
    pomdp_finals = final_returns(pomdp).dropna(subset=["final_return"])
    if pomdp_finals.empty:
        raise ResultsError("no finished trial among the POMDP's runs")
    budgets = {*twin["budget"].unique(), *pomdp["budget"].unique()}
    if len(budgets) > 1:
        warnings.warn(f"budgets differ ({', '.join(f'{b:,.0f}' for b in sorted(budgets))}): "
                      "the gap compares unequal training", AnalysisWarning, stacklevel=2)
    twin_mean = twin_finals["final_return"].mean()
    rows = []
    for (env, name), g in pomdp_finals.groupby(["env", "model"]):
        rows.append({
            "pomdp": env_label(env), "model": name, "seeds": len(g),
            "final_return": g["final_return"].mean(),
            "twin": f"{env_label(twin_finals['env'].iloc[0])}, {model}",
            "twin_seeds": len(twin_finals), "twin_final_return": twin_mean,
            "gap": twin_mean - g["final_return"].mean(),
        })
    return pd.DataFrame(rows).sort_values("final_return", ascending=False).reset_index(
        drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="gap", description=__doc__.splitlines()[0])
    parser.add_argument("twin", help="the twin's runs (experiment, storage or results folder)")
    parser.add_argument("pomdp", help="the POMDP's runs")
    parser.add_argument("--model", default="fnn", help="the twin's model (default %(default)s)")
    args = parser.parse_args(argv)
    with warnings_to_stderr():
        try:
            table = gap_table(load_runs([args.twin]), load_runs([args.pomdp]), args.model)
        except ResultsError as err:
            parser.error(str(err))
    print(table.to_markdown(index=False, tablefmt="github", floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
