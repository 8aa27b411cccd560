"""Learning curves compared at fixed points of training: PPO variants, ablations, peers.

    python -m analysis.stages RUNS [RUNS ...] --out DIR [--at 0.5e6,1e6,2e6,4e6] [--window 5e4]

RUNS are what `analysis.figure5` reads (Tune folders or tidy files, e.g. those of
`benchmarks/peer_ppo.py`). Every curve is a model under one PPO (``fnn (paper+adam_eps=1e-05)``,
``sb3``): the table gives, per curve and training point X, the mean and standard deviation over
seeds of each seed's mean return over the transitions in (X - window, X], and the learner's
diagnostics over the last window of the run; a seed that has not reached X is left out of that
cell (the table says how many seeds each cell has). The figure draws return, entropy and the
value function's explained variance against transitions, mean over seeds with a ±1 std band.
Writes ``DIR/stages.csv``, ``DIR/stages.md`` and ``DIR/curves.png``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.load import AnalysisWarning, ResultsError, load_runs
from rllib_iam.cli import OneLineParser

WINDOW = 50_000
"""Transitions each point's return is averaged over (about 500 Warehouse episodes)."""
MARKS = (500_000, 1_000_000, 2_000_000, 4_000_000)
SHOWN = ("entropy", "vf_explained_var", "clip_fraction")
"""Diagnostics in the table (means over the run's last window)."""


def per_seed_at(frame: pd.DataFrame, marks, window: float = WINDOW,
                column: str = "episode_return_mean") -> pd.DataFrame:
    """One row per curve x seed x mark: the seed's mean of ``column`` over (mark - window, mark]
    (NaN where the seed has not reached the mark)."""
    rows = []
    for (env, model, seed), g in frame.groupby(["env", "model", "seed"]):
        reached = g["transitions"].max()
        for mark in marks:
            inside = g[(g["transitions"] > mark - window) & (g["transitions"] <= mark)]
            value = inside[column].mean() if reached >= mark and len(inside) else np.nan
            rows.append({"env": env, "model": model, "seed": seed, "mark": mark, column: value})
    return pd.DataFrame(rows)


def stage_table(frame: pd.DataFrame, marks=MARKS, window: float = WINDOW) -> pd.DataFrame:
    """Per curve and mark: seeds, mean and std of the return; per curve: the diagnostics over
    the last window of each seed's run (mean over seeds)."""
    at = per_seed_at(frame, marks, window)
    stats = at.groupby(["env", "model", "mark"])["episode_return_mean"].agg(
        seeds="count", mean="mean", std="std").reset_index()
    wide = stats.pivot_table(index=["env", "model"], columns="mark",
                             values=["seeds", "mean", "std"])
    out = pd.DataFrame(index=wide.index)
    for mark in marks:
        for name in ("seeds", "mean", "std"):
            out[f"{name}@{int(mark)}"] = wide.get((name, mark), np.nan)
    last = []
    for (env, model, _seed), g in frame.groupby(["env", "model", "seed"]):
        end = g["transitions"].max()
        tail = g[g["transitions"] > end - window]
        last.append({"env": env, "model": model,
                     **{c: tail[c].mean() if c in tail else np.nan for c in SHOWN}})
    diag = pd.DataFrame(last).groupby(["env", "model"])[list(SHOWN)].mean()
    return out.join(diag).reset_index()


def markdown(t: pd.DataFrame, marks=MARKS, window: float = WINDOW) -> str:
    head = ["curve"] + [f"return at {m / 1e6:g}M" for m in marks] + [
        "entropy (end)", "vf explained var (end)", "clip fraction (end)"]
    rows = []
    for _, row in t.iterrows():
        cells = [f"`{row['model']}`"]
        for m in marks:
            n = row.get(f"seeds@{int(m)}")
            if not n or np.isnan(n):
                cells.append("—")
                continue
            std = row[f"std@{int(m)}"]
            spread = f" ± {std:.2f}" if np.isfinite(std) else ""
            cells.append(f"{row[f'mean@{int(m)}']:.2f}{spread} ({int(n)})")
        cells += [f"{row[c]:.3f}" if np.isfinite(row[c]) else "—" for c in SHOWN]
        rows.append(cells)
    table = pd.DataFrame(rows, columns=head).to_markdown(
        index=False, tablefmt="github", disable_numparse=True)
    note = (f"\nReturn at X: mean ± std over seeds (their number in brackets) of each seed's "
            f"mean episode return over the transitions in (X - {window:,.0f}, X]; diagnostics: "
            "mean over seeds of the last window of each run.\n")
    return table + "\n" + note


def plot(frame: pd.DataFrame, window: float = WINDOW):
    import seaborn as sns
    from matplotlib.figure import Figure

    panels = [("episode_return_mean", "mean episode return"), ("entropy", "policy entropy"),
              ("vf_explained_var", "value explained variance")]
    models = sorted(frame["model"].unique())
    colours = dict(zip(models, sns.color_palette("tab10", max(10, len(models))), strict=False))
    grid = np.linspace(0, frame["transitions"].max(), 200)
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        fig = Figure(figsize=(15, 4.2), layout="constrained")
        axes = fig.subplots(1, len(panels))
        for ax, (column, label) in zip(axes, panels, strict=True):
            for model in models:
                g = frame[frame["model"] == model]
                curves = []
                for _, s in g.groupby("trial"):
                    s = s.dropna(subset=[column]).sort_values("transitions")
                    if len(s) < 2:
                        continue
                    # smoothed over the window, so the noisy one-minibatch diagnostics read
                    smooth = s[column].rolling(max(1, int(window / 1024)), min_periods=1).mean()
                    curves.append(np.interp(grid, s["transitions"], smooth, left=np.nan,
                                            right=np.nan))
                if not curves:
                    continue
                values = np.array(curves)
                with warnings.catch_warnings():  # grid points no seed reached stay NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(values, axis=0)
                    std = np.nanstd(values, axis=0, ddof=1)
                ax.plot(grid / 1e6, mean, color=colours[model], label=f"{model} ({len(values)})")
                if len(values) > 1:
                    ax.fill_between(grid / 1e6, mean - std, mean + std, color=colours[model],
                                    alpha=0.15, linewidth=0)
            ax.set_xlabel("environment transitions, millions")
            ax.set_ylabel(label)
        axes[0].legend(fontsize=7, loc="lower right")
    return fig


def write(runs: list[str], out: str, marks=MARKS, window: float = WINDOW) -> list[str]:
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ResultsError(f"output folder is a file: {out}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnalysisWarning)
        try:
            frame = load_runs(runs)
        finally:
            for w in caught:
                if w.category is AnalysisWarning:
                    print(f"warning: {w.message}", file=sys.stderr)
    t = stage_table(frame, marks, window)
    text = markdown(t, marks, window)
    fig = plot(frame, window)
    out_dir.mkdir(parents=True, exist_ok=True)
    t.to_csv(out_dir / "stages.csv", index=False)
    (out_dir / "stages.md").write_text(text)
    fig.savefig(out_dir / "curves.png", dpi=130)
    print(text)
    return [str(out_dir / n) for n in ("stages.csv", "stages.md", "curves.png")]


def _marks(text: str) -> tuple[int, ...]:
    try:
        marks = tuple(int(float(m)) for m in text.split(",") if m.strip())
    except ValueError:
        marks = ()
    if not marks or min(marks) < 1:
        raise ValueError(f"--at must be positive transition counts, e.g. 0.5e6,1e6; got {text!r}")
    return marks


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="stages", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="experiment or storage folders, or tidy files")
    parser.add_argument("--out", required=True, help="folder for the table and figure")
    parser.add_argument("--at", default=",".join(f"{m:g}" for m in MARKS),
                        help="training points in transitions (default %(default)s)")
    parser.add_argument("--window", type=float, default=WINDOW,
                        help="transitions averaged before each point (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        marks = _marks(args.at)
    except ValueError as err:
        parser.error(str(err))
    if not args.window > 0:
        parser.error(f"--window must be positive, got {args.window}")
    try:
        paths = write(args.runs, args.out, marks, args.window)
    except ResultsError as err:
        parser.error(str(err))
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
