"""The Figure 5 grid on Ray Tune: one trial per model x seed, each a paper-faithful PPO run.

`experiments/figure5.py` is the command-line face of `run_grid`. Each trial's config is a
`rllib_iam.trial.TrialSpec` in the flat form Tune stores (`TrialSpec.to_config`: model, seed,
env, budget, PPO variant, ...); `Figure5Trial` reads it back (`TrialSpec.from_config`, trials of
older grids included) and turns it into the full RLlib `PPOConfig` (`TrialSpec.to_ppo_config`),
so the progress table, the trial names and the results all speak of models and seeds.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

from ray.rllib.algorithms.ppo import PPO
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    EPISODE_RETURN_MEAN,
    LEARNER_RESULTS,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
)
from ray.tune.result import SHOULD_CHECKPOINT, TIME_THIS_ITER_S, TIME_TOTAL_S

from rllib_iam import gridspec, schema
from rllib_iam.envs.registry import spec_for
from rllib_iam.gridspec import (  # noqa: F401  (the grid's names, defined with its spec)
    DEFAULT_MODELS,
    PROFILES,
    GridSpec,
    default_models_for,
    profiles_for,
)
from rllib_iam.models import count_params, model_name
from rllib_iam.schema import (
    DIAGNOSTICS,
    FIGURE5,
    PARAMS,
    REFERENCE_STEPS,
    RETURN,
    RETURN_LATEST,
    TRANSITIONS,
    TRANSITIONS_PER_S,
    WALL_TIME,
)
from rllib_iam.session import start_ray
from rllib_iam.tracking import Progress, tracking_callbacks
from rllib_iam.training import paper_ppo_for
from rllib_iam.trial import TrialSpec
from rllib_iam.tune.trials import CsvLog, IntactRestore, JsonLog, restore_tuner

STOP_METRIC = f"{ENV_RUNNER_RESULTS}/{NUM_ENV_STEPS_SAMPLED_LIFETIME}"


class Figure5Metrics(RLlibCallback):
    """Adds the per-iteration record the analysis reads: transitions, reference steps,
    return, wall time, transitions/s, the model's parameter count and the learner's
    `DIAGNOSTICS`."""

    def on_algorithm_init(self, *, algorithm, **kwargs: Any) -> None:
        self._params = count_params(algorithm.get_module())
        # the env's reference count of parallel envs (REFERENCE_ENVS for the paper's tasks)
        self._num_envs = paper_ppo_for(algorithm.config.env).num_envs
        # e.g. Atari trains on lives with clipped rewards: its return is the game score
        self._return_key = spec_for(algorithm.config.env).score_key or EPISODE_RETURN_MEAN
        self._latest = float("nan")

    def on_train_result(self, *, algorithm, result: dict, **kwargs: Any) -> None:
        runners = result.get(ENV_RUNNER_RESULTS, {})
        transitions = int(runners.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
        elapsed = result.get(TIME_THIS_ITER_S) or float("nan")
        episode_return = float(runners.get(self._return_key, float("nan")))
        if math.isfinite(episode_return):
            self._latest = episode_return
        result[FIGURE5] = {
            TRANSITIONS: transitions,
            REFERENCE_STEPS: transitions / self._num_envs,
            RETURN: episode_return,
            RETURN_LATEST: self._latest,
            WALL_TIME: float(result.get(TIME_TOTAL_S) or float("nan")),
            TRANSITIONS_PER_S: runners.get(NUM_ENV_STEPS_SAMPLED, 0) / elapsed,
            PARAMS: self._params,
            **learner_diagnostics(result),
        }


def learner_diagnostics(result: dict) -> dict[str, float]:
    """`DIAGNOSTICS` of one training result (the default module's, NaN where missing)."""
    learner = (result.get(LEARNER_RESULTS) or {}).get(DEFAULT_MODULE_ID) or {}
    values = {}
    for name, key in DIAGNOSTICS.items():
        value = learner.get(key)
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            values[name] = float("nan")
    return values


def trial_ppo_config(spec: dict[str, Any]):
    """The full `PPOConfig` of one grid trial, from its Tune config (`TrialSpec.to_config`'s
    form, or an older grid's), with the grid's `Figure5Metrics`."""
    config = TrialSpec.from_config(spec).to_ppo_config()
    existing = config.callbacks_class
    existing = list(existing) if isinstance(existing, (list, tuple)) else [existing]
    return config.callbacks(callbacks_class=[*existing, Figure5Metrics])


def _is_trial_spec(config: Any) -> bool:
    return isinstance(config, dict) and "class" not in config and {"model", "seed"} <= set(config)


CHECKPOINT_EVERY_S = 300.0
"""Wall-clock seconds after which a trial checkpoints at its next iteration, whatever its
profile's iteration cadence: a stopped machine costs a trial at most about this much.
``RLLIB_IAM_CHECKPOINT_S`` in the environment Ray starts from sets another."""


def checkpoint_every_s() -> float:
    """`CHECKPOINT_EVERY_S`, or ``RLLIB_IAM_CHECKPOINT_S`` where set (seconds, >= 0)."""
    value = os.environ.get("RLLIB_IAM_CHECKPOINT_S")
    if value is None:
        return CHECKPOINT_EVERY_S
    seconds = float(value)
    if not seconds >= 0:
        raise ValueError(f"RLLIB_IAM_CHECKPOINT_S must be a number of seconds >= 0, got {value!r}")
    return seconds


class Figure5Trial(IntactRestore, PPO):
    """RLlib's PPO, built from a grid trial's config (`TrialSpec.to_config`'s form).

    Restoring skips damaged checkpoints (`rllib_iam.tune.trials.IntactRestore`). Besides the
    profile's every-N-iterations checkpoints, a trial asks Tune for one (`SHOULD_CHECKPOINT`)
    once `CHECKPOINT_EVERY_S` have passed since its last save or its start."""

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        if _is_trial_spec(config):
            config = trial_ppo_config(config)
        self._last_save = time.monotonic()
        self._checkpoint_every_s = checkpoint_every_s()
        super().__init__(config=config, **kwargs)

    def step(self) -> dict:
        result = super().step()
        if time.monotonic() - self._last_save >= self._checkpoint_every_s:
            result[SHOULD_CHECKPOINT] = True
        return result

    def save_checkpoint(self, checkpoint_dir: str) -> Any:
        self._last_save = time.monotonic()
        return super().save_checkpoint(checkpoint_dir)

    @classmethod
    def default_resource_request(cls, config: Any):
        if _is_trial_spec(config):
            config = trial_ppo_config(config).to_dict()
        return super().default_resource_request(config)


def trial_name(trial: Any) -> str:
    """Tune's trial name and folder for a trial of the grid (`rllib_iam.schema.trial_name`)."""
    return schema.trial_name(model_name(trial.config["model"]), trial.config["seed"])


def run_callbacks(track: tuple[str, ...], storage_path: str, name: str) -> list:
    """The Tune callbacks of one run of a grid or search: the two logs (in place of Tune's
    own), the console `Progress` and the trackers of ``--track``."""
    return [JsonLog(), CsvLog(), Progress(),
            *tracking_callbacks(track, storage_path=storage_path, name=name)]


def run_grid(spec: GridSpec, *, verbose: int = 1):
    """Run (or, with ``spec.resume``, resume) the grid; returns Tune's `ResultGrid`. The spec
    is checked (`GridSpec.from_flags`) and saved with the experiment as it starts."""
    from ray import tune

    start_ray()
    callbacks = run_callbacks(spec.track, spec.experiment.rsplit("/", 1)[0], spec.name)
    if spec.resume:
        return restore_tuner(spec.experiment, Figure5Trial, callbacks).fit()

    param_space = {
        "model": tune.grid_search(list(spec.models)),
        "seed": tune.grid_search(spec.seed_list),
        **spec.trial_space(),
    }
    tuner = tune.Tuner(
        Figure5Trial,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=spec.max_concurrent,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=spec.experiment.rsplit("/", 1)[0],
            stop={STOP_METRIC: spec.timesteps},
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=spec.checkpoint_every,
                checkpoint_at_end=True,
                num_to_keep=2,
            ),
            failure_config=tune.FailureConfig(max_failures=3),
            callbacks=callbacks,
            verbose=verbose,
        ),
    )
    gridspec.save(spec)  # the Tuner has created the experiment's folder
    return tuner.fit()


def summary(results: Any) -> tuple[str, bool]:
    """One line on how the trials of a `run_grid` ended, and whether all reached their
    budget."""
    outcomes = [outcome(r) for r in results]
    stopped, failed = outcomes.count("stopped"), outcomes.count("failed")
    line = (f"{outcomes.count('finished')} of {len(results)} trials finished"
            + (f", {stopped} stopped before their budget (--resume continues them)"
               if stopped else "")
            + (f", {failed} failed" if failed else "")
            + f"; results in {results.experiment_path}")
    return line, not (stopped or failed)


def outcome(result: Any) -> str:
    """``"finished"`` (reached its transition budget), ``"failed"`` (ended with an error) or
    ``"stopped"`` (interrupted before its budget, e.g. by Ctrl-C: ``--resume`` continues it)
    for one `ray.tune.Result` of `run_grid`."""
    if result.error:
        return "failed"
    # Tune marks a trial's last result `done` when a stop criterion (the budget) ended it
    return "finished" if (result.metrics or {}).get("done") else "stopped"
