"""A PPO for the Warehouse found by Ray Tune: random search over the paper PPO's settings with
ASHA stopping the weak trials early.

`run_search` is the library face of `experiments/ppo_search.py`. Every trial is an ordinary
grid trial (`rllib_iam.grid.Figure5Trial`: model, seed, env, budget, ``ppo_config``), so a
search trial trains exactly what ``figure5.py --ppo-config`` would, and the analysis reads the
search folder like any grid. The space (`SEARCH_SPACE`) covers the update's size and frequency,
minibatch size, epochs, learning rate, clip ε, entropy bonus, advantage normalisation, gradient
clipping, GAE λ and horizon, how the time limit reaches GAE, Adam's ε and the value-loss form;
the decays run on the paper's clock (`rllib_iam.training`), so the lr and ε are nearly constant
over a search trial. ASHA (`ASHAScheduler`) compares trials at rungs of transitions by their
latest mean episode return (`METRIC`).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from rllib_iam.grid import (
    FIGURE5,
    RETURN,
    RETURN_LATEST,
    TRANSITIONS,
    Figure5Trial,
    run_callbacks,
    trial_name,
)
from rllib_iam.session import start_ray
from rllib_iam.storage import Storage
from rllib_iam.trial import TrialSpec
from rllib_iam.tune.trials import restore_tuner

METRIC = f"{FIGURE5}/{RETURN_LATEST}"
"""What ASHA compares at its rungs: the latest iteration's mean episode return (the one before
where no episode ended in an iteration, which the search's short fragments allow)."""
RETURNS = f"{FIGURE5}/{RETURN}"
"""What the trials table and the winner use: the mean of the iterations' returns over the last
10% of the transitions a trial ran (as the analysis's final return)."""
TIME_ATTR = f"{FIGURE5}/{TRANSITIONS}"
"""ASHA's clock: environment transitions."""


def search_space() -> dict[str, Any]:
    """The `PaperPPO` settings searched, as Tune domains (a fresh dict each call)."""
    from ray import tune

    return {
        # update size and frequency: 256 to 4,096 transitions per update
        "num_envs": tune.choice([8, 16, 32]),
        "rollout_fragment_length": tune.choice([32, 64, 128]),
        # no 32: 32-transition minibatches x 10 epochs ran at ~300 transitions/s on the 2-core
        # machine (9 ms per SGD step), 3.7 h per 4e6-transition trial, which the grid of the
        # winner (21 trials) could not afford
        "minibatch_size": tune.choice([64, 128, 256]),
        "num_epochs": tune.choice([3, 5, 10]),
        "lr": tune.loguniform(1e-4, 1e-3),
        "clip_param": tune.choice([0.1, 0.2, 0.3]),
        "entropy_coeff": tune.choice([0.0, 0.003, 0.01, 0.03]),
        "normalize_advantages": tune.choice([True, False]),
        "grad_clip": tune.choice([None, 0.5, 5.0]),
        "lambda_": tune.choice([0.9, 0.95, 0.98]),
        # 8: the reference's truncated GAE; 128: GAE over the whole fragment
        "gae_horizon": tune.choice([8, 128]),
        "time_limit_as_terminal": tune.choice([True, False]),
        "adam_eps": tune.choice([1e-8, 1e-5]),
        "vf_clip": tune.choice(["max", "none"]),
    }


def space_description() -> dict[str, Any]:
    """`search_space` as plain JSON-able data (for the results README and ``space.json``)."""
    out = {}
    for name, domain in search_space().items():
        categories = getattr(domain, "categories", None)
        if categories is not None:
            out[name] = {"choice": list(categories)}
        else:
            out[name] = {"loguniform": [domain.lower, domain.upper]}
    return out


def run_search(
    *,
    trial: TrialSpec,
    samples: int,
    grace: int,
    reduction_factor: int,
    search_seed: int,
    storage_path: str,
    name: str,
    resume: bool,
    max_concurrent: int | None,
    checkpoint_every: int = 50,
    verbose: int = 1,
    track: tuple[str, ...] = (),
):
    """Run (or resume) the search; returns Tune's `ResultGrid`. Every sample is `trial` (the
    template: model, seed, env, budget, model options, ...) with a ``ppo_config`` drawn from
    `search_space` for the paper PPO. Inputs are checked by the caller
    (`experiments/ppo_search.py`); ``track`` as `rllib_iam.grid.run_grid`'s."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    start_ray()
    storage = Storage.parse(storage_path)
    callbacks = run_callbacks(track, storage.root, name)
    if resume:
        return restore_tuner(storage.experiment(name), Figure5Trial, callbacks).fit()
    timesteps = trial.timesteps
    param_space = {**trial.to_config(), "ppo": "paper", "ppo_config": search_space()}
    tuner = tune.Tuner(
        Figure5Trial,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            num_samples=samples,
            search_alg=BasicVariantGenerator(random_state=search_seed),
            scheduler=ASHAScheduler(
                time_attr=TIME_ATTR, metric=METRIC, mode="max", max_t=timesteps,
                grace_period=grace, reduction_factor=reduction_factor,
            ),
            max_concurrent_trials=max_concurrent,
            trial_name_creator=search_trial_name,
            trial_dirname_creator=search_trial_name,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage.root,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=checkpoint_every, checkpoint_at_end=True, num_to_keep=1,
            ),
            stop={TIME_ATTR: timesteps},
            failure_config=tune.FailureConfig(max_failures=3),
            callbacks=callbacks,
            verbose=verbose,
        ),
    )
    return tuner.fit()


def search_trial_name(trial: Any) -> str:
    """``<model>_seed<k>_<trial id>``: the grid's name plus Tune's id (one per sample)."""
    return f"{trial_name(trial)}_{trial.trial_id}"


def trials_table(results) -> list[dict[str, Any]]:
    """One row per search trial: its settings, how far ASHA let it run and its return there
    (the mean over the last 10% of the transitions it ran, as the analysis's final return)."""
    rows = []
    for result in results:
        config = _params(result)
        reached, final = None, None
        history = result.metrics_dataframe
        if history is not None and TIME_ATTR in history and RETURNS in history:
            reached = int(history[TIME_ATTR].max())
            window = history.loc[history[TIME_ATTR] > 0.9 * reached, RETURNS].dropna()
            final = float(window.mean()) if len(window) else None
        rows.append({
            "trial": os.path.basename(result.path.rstrip("/")),
            "transitions": reached,
            "return": final,
            "error": bool(result.error),
            **{f"ppo.{k}": v for k, v in (config.get("ppo_config") or {}).items()},
        })
    return rows


def _params(result) -> dict[str, Any]:
    """The trial's own config (``params.json``: model, seed, ``ppo_config``, ...); Tune's
    `Result.config` is RLlib's whole algorithm config."""
    try:
        with result.filesystem.open_input_stream(f"{result.path}/params.json") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return {}


def winner(rows: list[dict[str, Any]], timesteps: int) -> dict[str, Any] | None:
    """The best trial that ran its whole budget (highest last return), or None."""
    full = [r for r in rows if not r["error"] and (r["transitions"] or 0) >= timesteps
            and r["return"] is not None and math.isfinite(r["return"])]
    return max(full, key=lambda r: r["return"]) if full else None


def overrides_of(row: dict[str, Any]) -> dict[str, Any]:
    """A trials-table row's PPO settings, as ``--ppo-config`` takes them."""
    return {k.removeprefix("ppo."): v for k, v in row.items() if k.startswith("ppo.")}


def dumps(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, default=str) + "\n"
