"""Final returns, their interval estimates and the verdict, from the tidy frame.

The statistics follow Agarwal et al. (2021) through their own library, ``rliable``: the
interquartile mean (IQM) and the mean with stratified-bootstrap 95% CIs, and the probability of
improvement P(X > Y) of ``iam`` over every other model with its bootstrap CI. With one task per
environment, the stratified bootstrap resamples seeds. Everything here is computed per
environment: returns of different environments are on different scales.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from analysis.load import DEFAULT_ENV, FINAL_FRACTION, failed_trials
from rllib_iam.envs.registry import find

REFERENCE_MODEL = "iam"
REPS = 2000
"""Bootstrap replications (rliable's examples use 2000 for the probability of improvement)."""
PAPER_TRANSITIONS = 32_000_000
"""Warehouse's paper budget: 4e6 reference steps of 8 envs (`paper_transitions` gives each
env's, from its `EnvSpec` profiles: Traffic's is 16e6)."""


def paper_transitions(env: str) -> int:
    """The paper's budget of transitions per trial on `env`: its ``paper`` profile (an env
    without its own has Warehouse's)."""
    spec = find(env)
    profile = (spec.profiles or {}).get("paper") if spec else None
    return profile.timesteps if profile else PAPER_TRANSITIONS


def env_label(env: str) -> str:
    """The env's display name (`EnvSpec.label`: ``rllib_iam/Warehouse-v0`` -> ``Warehouse``);
    for an env this process does not know, its id's name without the version."""
    spec = find(env)
    return spec.label if spec else re.sub(r"-v\d+$", "", env.rsplit("/", 1)[-1])


def env_order(envs) -> list[str]:
    """Warehouse first (the paper's top row), then the rest by name."""
    return sorted(set(envs), key=lambda e: (e != DEFAULT_ENV, e))


def is_feedforward(model: str) -> bool:
    """``fnn``, ``fnn8``, ``fnn32``: drawn as dashed lines at their final return."""
    return re.match(r"^fnn\d*\b", model) is not None


def rliable():
    """rliable's ``library`` and ``metrics`` modules, imported on first use (they pull in arch
    and scipy). requirements.txt keeps pandas < 3: rliable 1.2 pins arch 7, which fails to
    import under pandas 3."""
    from rliable import library, metrics

    return library, metrics


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """rliable's bootstrap draws from numpy's global generator: seed it, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def final_returns(frame: pd.DataFrame) -> pd.DataFrame:
    """Per trial: the mean return over the last 10% of its budget of transitions (NaN for a
    trial that has not finished), with its size, speed and wall time."""
    rows = []
    for (env, model, seed, trial), g in frame.groupby(["env", "model", "seed", "trial"]):
        budget = g["budget"].iloc[0]
        window = g[g["transitions"] > (1 - FINAL_FRACTION) * budget]["episode_return_mean"]
        complete = bool(g["complete"].iloc[0])
        rows.append({
            "env": env, "model": model, "seed": seed, "trial": trial, "complete": complete,
            "final_return": window.mean() if complete else np.nan,
            "params": g["params"].max(),
            "transitions": g["transitions"].max(),
            "transitions_per_s": g["transitions_per_s"].median(),
            "wall_time_s": g["wall_time_s"].max(),
        })
    return pd.DataFrame(rows)


def _scores(finals: pd.DataFrame, env: str, model: str) -> np.ndarray:
    """One model's final returns as rliable wants them: (seeds, tasks = 1)."""
    chosen = finals[(finals["env"] == env) & (finals["model"] == model)]
    return chosen["final_return"].dropna().to_numpy(dtype=float)[:, None]


def interval_estimates(finals: pd.DataFrame, reps: int = REPS, seed: int = 0) -> pd.DataFrame:
    """Per env x model: mean and IQM of the final returns, each with a stratified-bootstrap
    95% CI (NaN with fewer than two seeds: one seed has no spread to resample)."""
    library, metrics = rliable()

    def mean_and_iqm(scores: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_mean(scores), metrics.aggregate_iqm(scores)])

    rows = []
    for (env, model), _ in finals.groupby(["env", "model"]):
        scores = _scores(finals, env, model)
        row = {"env": env, "model": model, "seeds": len(scores)}
        if len(scores) > 1:
            with seeded(seed):
                point, ci = library.get_interval_estimates(
                    {model: scores}, mean_and_iqm, reps=reps)
            (mean, iqm), ((mean_lo, iqm_lo), (mean_hi, iqm_hi)) = point[model], ci[model]
            row |= {"mean": mean, "mean_ci_low": mean_lo, "mean_ci_high": mean_hi,
                    "iqm": iqm, "iqm_ci_low": iqm_lo, "iqm_ci_high": iqm_hi}
        elif len(scores):
            row |= {"mean": scores.item(), "iqm": scores.item()}
        rows.append(row)
    return pd.DataFrame(rows)


def improvement(finals: pd.DataFrame, reference: str = REFERENCE_MODEL, reps: int = REPS,
                seed: int = 0) -> pd.DataFrame:
    """Per env, the probability that a run of ``reference`` ends above a run of each other
    model, P(X > Y) (ties count half), with its stratified-bootstrap 95% CI."""
    library, metrics = rliable()
    rows = []
    for env in env_order(finals["env"]):
        x = _scores(finals, env, reference)
        if not len(x):
            continue
        others = finals.loc[finals["env"] == env, "model"].unique()
        for model in sorted(m for m in others if m != reference):
            y = _scores(finals, env, model)
            if not len(y):
                continue
            row = {"env": env, "model": reference, "versus": model, "seeds": len(x),
                   "seeds_versus": len(y),
                   "probability": float(metrics.probability_of_improvement(x, y))}
            if min(len(x), len(y)) > 1:
                with seeded(seed):
                    _, ci = library.get_interval_estimates(
                        {model: (x, y)}, metrics.probability_of_improvement, reps=reps)
                row |= {"ci_low": ci[model][0].item(), "ci_high": ci[model][1].item()}
            rows.append(row)
    columns = ["env", "model", "versus", "seeds", "seeds_versus", "probability", "ci_low",
               "ci_high"]
    return pd.DataFrame(rows, columns=columns)


def table(frame: pd.DataFrame, reps: int = REPS, seed: int = 0) -> pd.DataFrame:
    """One row per env x model: final return (mean, std, bootstrap 95% CI of the mean, IQM with
    its CI), finished seeds, parameter count, budget, transitions/s and wall time per trial,
    with the paper's and the public reproductions' values (from the env's `EnvSpec`) beside
    it."""
    finals = final_returns(frame)
    estimates = interval_estimates(finals, reps, seed).set_index(["env", "model"])
    failures = failed_trials(frame)
    failed = failures.groupby(["env", "model"]).size()
    rows = []
    keys = list(dict.fromkeys([*finals.groupby(["env", "model"]).groups,
                               *failed.index]))
    for env, model in keys:
        g = finals[(finals["env"] == env) & (finals["model"] == model)]
        done = g[g["complete"]]
        e = estimates.loc[(env, model)] if (env, model) in estimates.index else pd.Series(
            {"seeds": 0}, dtype=float)
        label, spec = env_label(env), find(env)
        rows.append({
            "env": label, "model": model, "seeds": int(e["seeds"]),
            "failed": int(failed.get((env, model), 0)),
            "final_return": e.get("mean", np.nan),
            "std": done["final_return"].std(ddof=1) if len(done) > 1 else np.nan,
            "ci95_low": e.get("mean_ci_low", np.nan), "ci95_high": e.get("mean_ci_high", np.nan),
            "iqm": e.get("iqm", np.nan),
            "iqm_ci95_low": e.get("iqm_ci_low", np.nan),
            "iqm_ci95_high": e.get("iqm_ci_high", np.nan),
            "params": g["params"].max(),
            "transitions": g["transitions"].max(),
            "transitions_per_s": g["transitions_per_s"].mean(),
            "wall_time_per_trial_s": done["wall_time_s"].mean() if len(done) else np.nan,
            "paper": spec.paper_final.get(model, np.nan) if spec else np.nan,
            "reproduction": spec.reproduction_final.get(model, np.nan) if spec else np.nan,
            "blog": spec.blog_finding.get(model, "") if spec else "",
            "_order": env_order([*finals["env"], *failures["env"]]).index(env),
        })
    t = pd.DataFrame(rows).sort_values(["_order", "final_return"], ascending=[True, False])
    t = t.drop(columns="_order").reset_index(drop=True)
    t.attrs["envs"] = env_order([*finals["env"], *failures["env"]])  # ids, for the verdict
    return t


FEW_SEEDS = 5
"""Below this many seeds a percentile bootstrap CI is too narrow to be taken at face value."""


def _seeds(n: int, m: int) -> str:
    plural = "" if max(n, m) == 1 else "s"
    return f"{n} seed{plural} each" if n == m else f"{n} and {m} seeds"


SEPARATION_ALPHA = 0.05
"""A complete separation of the seeds calls a winner where chance alone would give it less often
than this (exact two-sided Mann-Whitney)."""


def separation_p(n: int, m: int) -> float:
    """Two-sided exact Mann-Whitney p-value of a complete separation: every one of ``n`` runs of
    one model above (or below) every one of ``m`` runs of the other, no ties: 2 / C(n + m, n)."""
    return min(1.0, 2 / math.comb(n + m, n))


def _degenerate(p: pd.Series, reference: str) -> str:
    """The verdict on a pair whose bootstrap interval is a single point: why it is one, and what
    can be said instead."""
    n, m, prob = int(p["seeds"]), int(p["seeds_versus"]), p["probability"]
    why = (f"so every bootstrap resample gives {prob:.2f} too and the 95% CI collapses to "
           f"[{prob:.2f}, {prob:.2f}] (no measure of uncertainty)")
    if prob not in (0.0, 1.0):  # every run of both models ended with the same return
        return f"all {n * m} seed pairs are ties, {why}: not distinguishable"
    above, below = (reference, p["versus"]) if prob == 1.0 else (p["versus"], reference)
    chance = separation_p(n, m)
    meaning = f"{above} is ahead" if chance < SEPARATION_ALPHA else "too few seeds to call it"
    return (f"{above} ended above {below} in all {n * m} seed pairs, {why}; chance alone "
            f"separates {_seeds(n, m)} this completely with probability {chance:.3f} (exact "
            f"two-sided Mann-Whitney): {meaning}")


def verdict(t: pd.DataFrame, poi: pd.DataFrame, reference: str = REFERENCE_MODEL) -> str:
    """A plain-language paragraph per environment, generated from the table and the
    probabilities of improvement."""
    paragraphs = []
    for label in dict.fromkeys(t["env"]):
        failed = t[(t["env"] == label) & (t.get("failed", 0) > 0)]
        missing = ("Failed, and missing from every number here: " + ", ".join(
            f"{m} ({n} trial{'s' if n > 1 else ''})"
            for m, n in zip(failed["model"], failed["failed"], strict=True)) + "."
                   ) if len(failed) else ""
        rows = t[(t["env"] == label) & (t["seeds"] > 0)].set_index("model")
        if rows.empty:
            paragraphs.append(" ".join(filter(None, [
                f"{label}: no trial has finished yet, so there is no verdict.", missing])))
            continue
        budget = rows["transitions"].max()
        env = next((e for e in t.attrs.get("envs", ()) if env_label(e) == label), label)
        paper = paper_transitions(env)
        text = [f"{label} at {budget:,.0f} transitions per trial "
                f"({100 * budget / paper:.2g}% of the paper's {paper / 1e6:g}e6)."]
        pairs = poi[poi["env"].map(env_label) == label]
        anecdotes = pairs[pairs["ci_low"].isna()]
        for _, p in pairs.dropna(subset=["ci_low"]).iterrows():
            n, m = int(p["seeds"]), int(p["seeds_versus"])
            said = (f"With {_seeds(n, m)}, {reference} beats {p['versus']} with probability "
                    f"{p['probability']:.2f}")
            if p["ci_low"] == p["ci_high"]:
                text.append(f"{said}: {_degenerate(p, reference)}.")
                continue
            if p["ci_low"] > 0.5:
                meaning = f"{reference} is ahead"
            elif p["ci_high"] < 0.5:
                meaning = f"{p['versus']} is ahead"
            else:
                meaning = "not distinguishable from a coin flip"
            text.append(f"{said} [95% CI {p['ci_low']:.2f} to {p['ci_high']:.2f}]: {meaning}.")
        if len(anecdotes):
            prob = anecdotes.set_index("versus")["probability"]
            sides = {"above": prob[prob > 0.5], "below": prob[prob < 0.5],
                     "level with": prob[prob == 0.5]}
            ended = " and ".join(f"{side} {', '.join(v.index)}"
                                 for side, v in sides.items() if len(v))
            text.append(f"Against {', '.join(prob.index)}, a single seed on one side allows no "
                        f"interval; on these runs only, {reference} ended {ended}.")
        intervals = pairs.dropna(subset=["ci_low"])
        if (intervals[["seeds", "seeds_versus"]].min(axis=1) < FEW_SEEDS).any():
            text.append(f"Bootstrap intervals from fewer than {FEW_SEEDS} seeds are too narrow; "
                        "treat them as indicative.")
        if reference not in rows.index:
            text.append(f"There are no finished {reference} runs to compare.")
        ranked = rows.sort_values("iqm", ascending=False)
        text.append("By IQM of the final return: " + " > ".join(
            f"{m} {r['iqm']:.2f}" for m, r in ranked.iterrows()) + ".")
        recurrent = [m for m in ("lstm", "gru") if m in rows.index]
        if reference in rows.index and recurrent:
            speed = rows.loc[reference, "transitions_per_s"]
            ratios = ", ".join(f"{speed / rows.loc[m, 'transitions_per_s']:.2f}x {m}'s"
                               for m in recurrent)
            text.append(f"{reference} trained at {speed:,.0f} transitions/s ({ratios}).")
        if missing:
            text.append(missing)
        paragraphs.append(" ".join(text))
    return "\n\n".join(paragraphs)
