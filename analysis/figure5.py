"""Figure 5, the comparison table and the statistics from Tune results.

    python -m analysis.figure5 RUNS [RUNS ...] --out DIR [--axis transitions|reference-steps]
                               [--band std|ci95] [--reps N] [--style curves|paper] [--smooth F]

RUNS are experiment folders (``<storage>/<name>``) or storage folders holding several, local or
``s3://``/``gs://`` (read through pyarrow). Writes into DIR ``figure5.png``/``.pdf``,
``table.csv``/``.md`` (the table, the probabilities of improvement and the verdict),
``improvement.csv`` and, when a trial was damaged or unfinished, ``warnings.txt``; prints the
Markdown. Bad input (no such folder, unsupported URI, no trials) is one line on stderr, exit
status 2, nothing written. The notebook ``analysis/figure5.ipynb`` uses the same functions.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.load import (
    ENVS_PER_REFERENCE_STEP,
    FIGURE5,
    AnalysisWarning,
    ResultsError,
    load_runs,
)
from analysis.stats import (
    REPS,
    env_label,
    env_order,
    final_returns,
    improvement,
    is_feedforward,
    rliable,
    seeded,
    table,
    verdict,
)
from rllib_iam.cli import OneLineParser
from rllib_iam.envs.registry import find

__all__ = ["FIGURE5", "curves", "load_runs", "main", "plot", "plot_seeds", "table",
           "write_report"]

AXES = {"transitions": "transitions", "reference-steps": "reference_steps"}
"""``--axis`` -> the tidy column on the x axis."""
AXIS_LABEL = {
    "transitions": ("environment transitions", ""),
    "reference_steps": ("reference steps",
                        f" (1 step = {ENVS_PER_REFERENCE_STEP} env transitions)"),
}
"""Tidy column -> (what the axis counts, a note after the unit)."""
BANDS = {"std": "±1 std over seeds (as the paper)",
         "ci95": "95% stratified-bootstrap CI of the mean (rliable)"}
GRID_POINTS = 200
MODEL_ORDER = ("iam", "lstm", "gru", "fnn", "fnn8", "iam_static", "iam_gru", "iam_auto",
               "iam_attention", "fnn32")
"""The legend's order; names not listed follow, sorted."""
MODEL_COLOURS = {"iam": 0, "lstm": 2, "gru": 4, "fnn": 6, "fnn8": 8, "iam_static": 10,
                 "iam_gru": 12, "fnn32": 14, "iam_auto": 16, "iam_attention": 18}
"""Each model's colour, an index into matplotlib's ``tab20``, whichever others are in the
figure: even indices are tab10's colours, and a variant of a model (``gru@214k`` cut to a
parameter budget, ``fnn (rllib)`` under another PPO) gets the lighter shade of the same hue,
the odd index after its model's (a second variant of the same model in one figure: as below)."""
OTHER_COLOURS = "Dark2"
"""Names of no known model: a colour of this palette picked from the name itself (the next
free one where two such names in one figure would share it)."""


SMOOTH = 0.02
"""Curves are each trial's return averaged over the trailing window of this fraction of the
panel's x range (stated in the figure's caption); tables and verdicts use the raw returns."""


def smoothing_window(frame: pd.DataFrame, x: str, smooth: float = SMOOTH) -> float:
    """The trailing window, in units of ``x``, that `curves` averages each trial over."""
    return smooth * (frame[x].max() - frame[x].min())


def _resampled(g: pd.DataFrame, x: str, grid: np.ndarray, window: float = 0.0) -> np.ndarray:
    """Each trial's curve interpolated onto ``grid`` (NaN outside what it logged): seeds x grid;
    with ``window`` > 0, first averaged over the trailing ``window`` of ``x``."""
    rows = []
    for _, s in g.groupby("trial"):
        s = s.dropna(subset=["episode_return_mean"]).sort_values(x)
        if len(s):
            y = s["episode_return_mean"].to_numpy(dtype=float)
            if window > 0:
                xs = s[x].to_numpy(dtype=float)
                start = np.searchsorted(xs, xs - window, side="right")
                sums = np.concatenate([[0.0], np.cumsum(y)])
                y = (sums[1:] - sums[start]) / (np.arange(1, len(y) + 1) - start)
            rows.append(np.interp(grid, s[x], y, left=np.nan, right=np.nan))
    return np.array(rows).reshape(len(rows), len(grid))


def curves(frame: pd.DataFrame, axis: str = "transitions", band: str = "std",
           reps: int = REPS, seed: int = 0, smooth: float = SMOOTH) -> pd.DataFrame:
    """Per env x model, the mean over seeds on a common grid of ``GRID_POINTS`` steps, with
    the band's low and high edges, over the seeds that have logged that far (``seeds_present``
    of ``seeds``; no band below two). Each trial is first averaged over a trailing window of
    ``smooth`` of the env's x range (0: raw, one point per iteration)."""
    x = AXES.get(axis, axis)
    library = rliable()[0] if band == "ci95" else None
    out = []
    for env in env_order(frame["env"]):
        data = frame[frame["env"] == env]
        grid = np.linspace(data[x].min(), data[x].max(), GRID_POINTS)
        window = smoothing_window(data, x, smooth)
        for model, g in data.groupby("model"):
            values = _resampled(g, x, grid, window)
            n = len(values)
            present = np.isfinite(values).sum(axis=0)
            mean = np.full(len(grid), np.nan)
            mean[present > 0] = np.nanmean(values[:, present > 0], axis=0)
            low, high = np.full(len(grid), np.nan), np.full(len(grid), np.nan)
            banded = present >= 2
            if banded.any():
                if band == "ci95":
                    logged = np.isfinite(values)
                    for rows in np.unique(logged[:, banded].T, axis=0):  # each set of seeds
                        at = banded & (logged == rows[:, None]).all(axis=0)
                        with seeded(seed):
                            _, ci = library.get_interval_estimates(
                                {model: values[rows][:, None, at]}, lambda s: s.mean(axis=0)[0],
                                reps=reps)
                        low[at], high[at] = ci[model]
                else:
                    spread = np.nanstd(values[:, banded], axis=0, ddof=1)
                    low[banded], high[banded] = mean[banded] - spread, mean[banded] + spread
            out.append(pd.DataFrame({"env": env, "model": model, "x": grid, "mean": mean,
                                     "low": low, "high": high, "seeds_present": present,
                                     "seeds": n}))
    return pd.concat(out, ignore_index=True)


def _scale(x: str, end: float) -> tuple[float, str]:
    """Divisor for the axis values and the axis label stating the unit."""
    name, note = AXIS_LABEL[x]
    factor, unit = (1e6, ", millions") if end >= 1e6 else (1e3, ", thousands") if end >= 1e4 \
        else (1.0, "")
    return factor, f"{name}{unit}{note}"


def _base_model(name: str) -> str:
    """``gru@214k`` -> ``gru``, ``fnn (rllib)`` -> ``fnn``, ``iam`` -> ``iam``."""
    return re.split(r"@| \(", name, maxsplit=1)[0]


def _palette(models) -> dict[str, tuple]:
    """Every model present -> its colour (MODEL_COLOURS), in the legend's order."""
    import seaborn as sns

    names = set(models)
    known = [m for m in MODEL_ORDER if m in names]
    ordered = known + sorted(names - set(known))
    tab20, others = sns.color_palette("tab20", 20), sns.color_palette(OTHER_COLOURS)
    colours, shades, taken = {}, set(), set()
    for name in ordered:
        base = _base_model(name)
        if name in MODEL_COLOURS:
            colours[name] = tab20[MODEL_COLOURS[name]]
        elif base in MODEL_COLOURS and MODEL_COLOURS[base] + 1 not in shades:
            shades.add(MODEL_COLOURS[base] + 1)  # a second variant of one model: as others
            colours[name] = tab20[MODEL_COLOURS[base] + 1]
    for name in (n for n in ordered if n not in colours):
        k = zlib.crc32(name.encode()) % len(others)
        while k in taken and len(taken) < len(others):
            k = (k + 1) % len(others)
        taken.add(k)
        colours[name] = others[k]
    return {name: colours[name] for name in ordered}


def _heuristics(env: str) -> dict[str, float]:
    """The heuristic policies' returns with the paper's quirks, from the env's committed table
    (`EnvSpec.heuristics_table`, experiments/heuristics.py); none where it has no table."""
    spec = find(env)
    return spec.heuristic_returns() if spec else {}


def _label_lines(ax, lines: dict[str, float]) -> None:
    """Thin grey reference lines, named by ticks on the panel's right edge (away from the
    curves); names closer than 4% of the height share one tick so that none overlap."""
    lo, hi = ax.get_ylim()
    groups: list[list[tuple[float, str]]] = []
    for value, name in sorted((v, n) for n, v in lines.items() if lo <= v <= hi):
        ax.axhline(value, color="0.45", lw=0.7, ls=":", zorder=1)
        if groups and value - groups[-1][-1][0] < 0.04 * (hi - lo):
            groups[-1].append((value, name))
        else:
            groups.append([(value, name)])
    if groups:
        names = ax.secondary_yaxis("right")
        names.set_yticks([g[-1][0] for g in groups],
                         labels=["/".join(name for _, name in g) for g in groups])
        names.tick_params(labelsize=7, labelcolor="0.3", length=0)
        names.spines[:].set_visible(False)
    ax.set_ylim(lo, hi)


STYLES = ("curves", "paper")
"""``curves``: every model a curve with its band (feedforward ones dashed); ``paper``: as the
paper drew Figure 5, the feedforward models as dashed lines at their final return."""
ZOOM_GAIN = 0.6
"""The right-hand panel (the last half, zoomed) is drawn only where its y range is less than
this share of the left panel's: otherwise it would repeat the left one."""


def describe_ppo(label: str) -> str:
    """A PPO label (`analysis.load.ppo_label`) in words: the variant, its changes, the clock
    its lr and ε decays run on."""
    variant, *changes = label.split("+")
    decay = next((c.split("=", 1)[1] for c in changes if c.startswith("decay=")), "paper")
    changes = [c for c in changes if not c.startswith("decay=")]
    words = f"{variant} PPO" + (f" ({', '.join(changes)})" if changes else "")
    if variant == "rllib":
        return words
    clock = {"paper": "on the paper's 32e6-transition clock",
             "budget": "over each trial's budget"}.get(decay, f"over {decay} transitions")
    return f"{words}, lr and clip decayed {clock}"


def panel_title(data: pd.DataFrame) -> str:
    """What one env's panel shows: the env, each PPO, the budget and the seeds per model."""
    ppos = "; ".join(describe_ppo(p) for p in sorted(data["ppo"].unique()))
    budget = data.groupby("trial")["budget"].first()
    seeds = data.groupby("model")["trial"].nunique()
    budgets = " to ".join(f"{b / 1e6:.3g}e6" if b >= 1e6 else f"{b:,.0f}"
                          for b in sorted({budget.min(), budget.max()}))
    counts = " to ".join(str(n) for n in sorted({seeds.min(), seeds.max()}))
    return (f"{env_label(data['env'].iloc[0])}: {ppos}; {budgets} transitions per trial; "
            f"{counts} seed{'s' if seeds.max() > 1 else ''} per model")


def plot(frame: pd.DataFrame, axis: str = "transitions", band: str = "std",
         reps: int = REPS, style: str = "curves", smooth: float = SMOOTH) -> Figure:
    """The paper's layout: one row per env (Warehouse on top); the whole run on the left, the
    last half zoomed on the right where that shows more. Models are curves (mean over seeds of
    each trial's return averaged over a trailing window, with a band; dotted where some seeds
    have not logged yet); with ``style="paper"`` the feedforward ones are dashed lines at their
    final return, as the paper drew them; heuristics thin grey lines."""
    import seaborn as sns

    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    x = AXES.get(axis, axis)
    lines = curves(frame, x, band, reps, smooth=smooth)
    finals = final_returns(frame)
    envs = env_order(frame["env"])
    palette = _palette(frame["model"])
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        fig = Figure(figsize=(12, 4.2 * len(envs)), layout="constrained")
        axes = fig.subplots(len(envs), 2, squeeze=False)
    for row, env in enumerate(envs):
        data, env_lines = frame[frame["env"] == env], lines[lines["env"] == env]
        end = data[x].max()
        factor, xlabel = _scale(x, end)
        zoom_values = []
        for model in (m for m in palette if m in set(env_lines["model"])):
            c = env_lines[env_lines["model"] == model]
            trials = data[data["model"] == model]
            done = finals[(finals["env"] == env) & (finals["model"] == model)]
            final = done["final_return"].mean()
            n, unfinished = trials["trial"].nunique(), int((~done["complete"]).sum())
            label = f"{model} (n={n}" + (f", {unfinished} unfinished)" if unfinished else ")")
            colour = palette[model]
            for ax in axes[row]:
                if style == "paper" and is_feedforward(model) and not np.isnan(final):
                    ax.axhline(final, color=colour, ls="--", lw=1.6,
                               label=label.replace(")", "), final return", 1))
                    continue
                xs = c["x"] / factor
                full = c["seeds_present"] == n
                lone = c["mean"].notna().sum() < 2  # one logged point: a line would not show
                ax.plot(xs, c["mean"].where(full), color=colour, lw=1.8, label=label,
                        ls="--" if is_feedforward(model) else "-", marker="o" if lone else None)
                partial = ~full
                if partial.any():
                    edges = partial | partial.shift(1, fill_value=False) | partial.shift(
                        -1, fill_value=False)
                    ax.plot(xs, c["mean"].where(edges), color=colour, lw=1.8, ls=(0, (1, 1)))
                ax.fill_between(xs, c["low"], c["high"], color=colour, alpha=0.2, lw=0)
            late = c[c["x"] >= end / 2]
            zoom_values += [final] if (style == "paper" and is_feedforward(model)
                                       and not np.isnan(final)) else [
                *late["mean"], *late["low"], *late["high"]]
        left, right = axes[row]
        left.set_xlim(data[x].min() / factor, end / factor)
        right.set_xlim(end / 2 / factor, end / factor)
        zoom = np.array(zoom_values, dtype=float)
        zoom = zoom[np.isfinite(zoom)]
        if len(zoom):
            pad = max(0.08 * (zoom.max() - zoom.min()), 0.5)
            right.set_ylim(zoom.min() - pad, zoom.max() + pad)
        reference = _heuristics(env)
        if reference:
            lo, hi = left.get_ylim()
            left.set_ylim(min(lo, *reference.values()) - 1, max(hi, *reference.values()) + 1)
        lo, hi = left.get_ylim()
        zoomed = len(zoom) > 0 and (right.get_ylim()[1] - right.get_ylim()[0]
                                    < ZOOM_GAIN * (hi - lo))
        panels = ((left, panel_title(data)), (right, "the last half, zoomed"))
        for ax, title in panels if zoomed else panels[:1]:
            _label_lines(ax, reference)
            ax.set_title(textwrap.fill(title, 75), fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("mean episode return")
        if not zoomed:  # the last half would look as it does on the left
            right.set_visible(False)
        (right if zoomed else left).legend(
            loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False,
            title="model (seeds)", title_fontsize=8)
    windows = ", ".join(
        f"{env_label(env)} {smoothing_window(frame[frame['env'] == env], x, smooth):,.0f}"
        for env in envs)
    smoothed = (f"each trial's return averaged over the trailing {smooth:.0%} of its panel "
                f"({windows} {AXIS_LABEL[x][0]}; the tables use raw returns)" if smooth > 0
                else "each trial's return per iteration")
    fig.suptitle(textwrap.fill(f"Figure 5 (rllib-iam): mean over seeds of {smoothed}; band: "
                               f"{BANDS[band]}; dotted where not all seeds have logged", 150),
                 fontsize=9)
    return fig


def plot_seeds(frame: pd.DataFrame, axis: str = "transitions") -> Figure:
    """Every trial's own curve: one row per env, one panel per model, a line per seed."""
    import seaborn as sns

    x = AXES.get(axis, axis)
    envs = env_order(frame["env"])
    models = list(_palette(frame["model"]))
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        fig = Figure(figsize=(2.8 * len(models), 2.6 * len(envs)), layout="constrained")
        axes = fig.subplots(len(envs), len(models), squeeze=False, sharey="row")
    for row, env in enumerate(envs):
        data = frame[frame["env"] == env]
        factor, xlabel = _scale(x, data[x].max())
        for col, model in enumerate(models):
            ax = axes[row][col]
            g = data[data["model"] == model]
            g = g.assign(x=g[x] / factor, seed=g["seed"].astype(str))
            if len(g):
                sns.lineplot(g, x="x", y="episode_return_mean", hue="seed", units="trial",
                             estimator=None, ax=ax, lw=1, palette="tab10", legend="full")
                ax.legend(title="seed", fontsize=6, title_fontsize=6, loc="lower right",
                          ncols=2, frameon=True)
            ax.set_title(f"{env_label(env)}: {model}")
            ax.set_xlabel(xlabel, fontsize=7)
            ax.set_ylabel("mean episode return")
    return fig


def _formatted(t: pd.DataFrame) -> pd.DataFrame:
    shown = t.copy()
    for column in shown.columns:
        values = shown[column]
        if column in ("params", "transitions", "transitions_per_s", "wall_time_per_trial_s"):
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
        elif values.dtype.kind == "f":
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return shown


def _markdown_table(t: pd.DataFrame) -> str:
    """`t` as a GitHub Markdown table (pandas through tabulate), its cells as `_formatted`
    writes them (no re-parsing of the numbers)."""
    return _formatted(t).to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


CAPTION = (
    "Final return: each trial's mean episode return over the last 10% of its budget of "
    "transitions; `final_return`, `std` and `ci95_*` are the mean, standard deviation and "
    "95% stratified-bootstrap CI (rliable) over finished seeds, `iqm*` the interquartile mean "
    "with its CI. Trials that have not finished are drawn in the figure but not counted here. "
    "`paper`: Suau et al. (2022), Figure 5, at 4e6 reference steps = 32e6 transitions; "
    "`reproduction`: the second public reproduction (PyTorch PPO, GRU, 32 processes) at 4e6 "
    "transitions; `blog`: the seed reproduction (PyTorch PPO, GRU, 4e6 transitions), which "
    "reports a ranking only. Compare with them only at their budgets (`transitions`)."
)


def markdown(t: pd.DataFrame, poi: pd.DataFrame | None = None, text: str = "") -> str:
    """The report: caption and table, the probabilities of improvement, the verdict."""
    parts = [CAPTION, _markdown_table(t)]
    if poi is not None and len(poi):
        shown = poi.assign(env=poi["env"].map(env_label))
        parts += ["Probability of improvement P(model > versus) over finished seeds, with its "
                  "95% stratified-bootstrap CI (rliable; none with a single seed on a side).",
                  _markdown_table(shown)]
    if text:
        parts += ["**Verdict** (generated from the numbers above):", text]
    return "\n\n".join(p.strip() for p in parts) + "\n"


def write_report(runs: list[str], out: str, axis: str = "transitions", band: str = "std",
                 reps: int = REPS, style: str = "curves", smooth: float = SMOOTH) -> list[str]:
    """Load ``runs``, write figure, tables and verdict into ``out``; returns the written paths.
    Raises `ResultsError` (before writing anything) when nothing usable is found. Each problem
    with a trial is printed to stderr as one ``warning:`` line and kept in ``warnings.txt``."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ResultsError(f"output folder is a file: {out}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnalysisWarning)
        try:
            frame = load_runs(runs)
            t = table(frame, reps)
            poi = improvement(final_returns(frame), reps=reps)
            report = markdown(t, poi, verdict(t, poi))
            fig = plot(frame, axis, band, reps, style, smooth)
        finally:
            problems = [str(w.message) for w in caught if w.category is AnalysisWarning]
            for problem in problems:
                print(f"warning: {problem}", file=sys.stderr)
    for w in caught:
        if w.category is not AnalysisWarning:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "figure5.png", out_dir / "figure5.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150)
    t.to_csv(out_dir / "table.csv", index=False)
    poi.to_csv(out_dir / "improvement.csv", index=False)
    (out_dir / "table.md").write_text(report)
    paths += [out_dir / "table.csv", out_dir / "table.md", out_dir / "improvement.csv"]
    stale = out_dir / "warnings.txt"
    if problems:
        stale.write_text("".join(f"{p}\n" for p in problems))
        paths.append(stale)
    else:
        stale.unlink(missing_ok=True)
    print(report)
    return [str(p) for p in paths]


EXAMPLES = """examples:
  python -m analysis.figure5 runs/figure5-quick --out figure5-quick
  python -m analysis.figure5 results/warehouse-tuned --out results/warehouse-tuned
  python -m analysis.figure5 s3://bucket/iam/figure5-blog --out blog --band ci95
"""


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="figure5", description=__doc__.splitlines()[0],
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="experiment or storage folders (or URIs), or "
                        "committed results folders (their trials/)")
    parser.add_argument("--out", required=True, help="folder for the figure and tables")
    parser.add_argument("--axis", default="transitions", choices=list(AXES),
                        help="x axis: env transitions or the paper's steps of 8 envs "
                             "(default %(default)s)")
    parser.add_argument("--band", default="std", choices=list(BANDS),
                        help="band around each mean curve: the seeds' standard deviation, or "
                             "a bootstrap 95%% interval (default %(default)s)")
    parser.add_argument("--reps", type=int, default=REPS,
                        help="bootstrap replications (default %(default)s)")
    parser.add_argument("--style", default="curves", choices=STYLES,
                        help="curves: every model a curve with its band; paper: feedforward "
                             "models as dashed lines at their final return, as the paper drew "
                             "them (default %(default)s)")
    parser.add_argument("--smooth", type=float, default=SMOOTH,
                        help="average each trial's return over this trailing fraction of the "
                             "x range before the mean over seeds, 0 for none (default "
                             "%(default)s; the tables always use raw returns)")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps must be positive, got {args.reps}")
    if not 0 <= args.smooth < 1:
        parser.error(f"--smooth must be a fraction in [0, 1), got {args.smooth}")
    try:
        paths = write_report(args.runs, args.out, args.axis, args.band, args.reps, args.style,
                             args.smooth)
    except ResultsError as err:
        parser.error(str(err))
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
