"""The Figure 5 grid on Ray Tune: one trial per model x seed, each a paper-faithful PPO run.

`experiments/figure5.py` is the command-line face of `run_grid`. Each trial's config holds only
what a reader needs to tell trials apart (model, seed, env, budget, PPO variant); `Figure5Trial`
turns it into the full RLlib `PPOConfig` through `rllib_iam.training.ppo_config`, so the
progress table, the trial names and the results all speak of models and seeds.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
from pathlib import Path
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
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.result import TIME_THIS_ITER_S, TIME_TOTAL_S

from rllib_iam import gridspec, schema
from rllib_iam.envs.registry import WAREHOUSE, ByEnv, find, spec_for
from rllib_iam.envs.spec import Profile
from rllib_iam.gridspec import LEGACY_DECAY_OVER, GridSpec
from rllib_iam.models import count_params
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
from rllib_iam.tracking import Progress, tracking_callbacks
from rllib_iam.training import paper_ppo_for, ppo_config, ppo_settings

STOP_METRIC = f"{ENV_RUNNER_RESULTS}/{NUM_ENV_STEPS_SAMPLED_LIFETIME}"


PROFILES: dict[str, Profile] = WAREHOUSE.profiles
"""Warehouse's budgets (`rllib_iam.envs.registry.WAREHOUSE_PROFILES`): ``smoke``, ``quick``,
``blog``, ``paper``; every env's where its `EnvSpec.profiles` has none."""

PROFILES_BY_ENV = ByEnv(lambda spec: spec.profiles or None)
"""Per registered env id, the profiles its spec sets (same four names), from the specs."""


def profiles_for(env: str) -> dict[str, Profile]:
    """The four profiles for `env`: its own where it has them, Warehouse's otherwise."""
    spec = find(env)
    return {**PROFILES, **(spec.profiles if spec else {})}


DEFAULT_MODELS: tuple[str, ...] = WAREHOUSE.default_models
"""Figure 5's models plus the GRU the reproductions found competitive; every env's where its
`EnvSpec.default_models` is None."""

DEFAULT_MODELS_BY_ENV = ByEnv(lambda spec: spec.default_models)
"""Per registered env id, its grid's models where its spec names them."""


def default_models_for(env: str) -> tuple[str, ...]:
    """The models a grid on `env` runs unless told otherwise."""
    spec = find(env)
    return (spec.default_models if spec else None) or DEFAULT_MODELS


class Figure5Metrics(RLlibCallback):
    """Adds the per-iteration record the analysis reads: transitions, reference steps,
    return, wall time, transitions/s, the model's parameter count and the learner's
    `DIAGNOSTICS`."""

    def on_algorithm_init(self, *, algorithm, **kwargs: Any) -> None:
        self._params = count_params(algorithm.get_module())
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


def trial_num_envs(spec: dict[str, Any]) -> int:
    """Environments per update of a trial (all env runners together)."""
    ppo = spec.get("ppo", "paper")
    if ppo == "rllib":
        return paper_ppo_for(spec["env"]).num_envs
    return ppo_settings(spec["env"], ppo, spec.get("ppo_config")).num_envs


def trial_ppo_config(spec: dict[str, Any]):
    """The full `PPOConfig` of one grid trial, from its small Tune config."""
    runners = int(spec.get("num_env_runners", 0))
    num_envs = trial_num_envs(spec)
    config = ppo_config(
        spec["model"],
        spec["env"],
        seed=int(spec["seed"]),
        total_timesteps=int(spec["timesteps"]),
        ppo=spec["ppo"],
        num_env_runners=runners,
        num_envs=num_envs // max(1, runners),
        model_config=spec.get("model_config") or None,
        ppo_overrides=spec.get("ppo_config") or None,
        decay_over=spec.get("decay_over", LEGACY_DECAY_OVER),
    )
    existing = config.callbacks_class
    existing = list(existing) if isinstance(existing, (list, tuple)) else [existing]
    return config.callbacks(callbacks_class=[*existing, Figure5Metrics])


def _is_trial_spec(config: Any) -> bool:
    return isinstance(config, dict) and "class" not in config and {"model", "seed"} <= set(config)


def checkpoint_damage(folder: Path) -> str | None:
    """Why an RLlib checkpoint folder cannot be restored (missing or unreadable parts), or None.

    Tune registers a checkpoint only once it is written, but a disk that filled up, a copy cut
    off on its way to cloud storage or a hand-edited folder leave half-written ones; unpickling
    each part up front finds them before any state is half loaded."""
    try:
        json.loads((folder / "rllib_checkpoint.json").read_text())
    except (OSError, ValueError):
        return "no readable rllib_checkpoint.json"
    for needed in ("algorithm_state.pkl", "learner_group"):
        if not (folder / needed).exists():
            return f"{needed} missing"
    for part in sorted(folder.rglob("*.pkl")):
        try:
            with part.open("rb") as f:
                pickle.load(f)
        except Exception as err:  # any failure to unpickle means damage
            return f"{part.relative_to(folder)} unreadable ({type(err).__name__}: {err})"
    return None


def _say(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class Figure5Trial(PPO):
    """RLlib's PPO, built from a grid trial's ``{"model", "seed", "env", "timesteps", "ppo"}``.

    Restoring (Tune's retry of a failed trial, or ``--resume``) checks the checkpoint first: a
    damaged one is reported and the newest intact older checkpoint of the trial is used instead,
    or, with none left, the trial starts again from its first iteration. Iterations logged again
    replace the earlier records in the analysis, so none is counted twice."""

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        if _is_trial_spec(config):
            config = trial_ppo_config(config)
        super().__init__(config=config, **kwargs)

    def restore(self, checkpoint_path: Any) -> None:
        checkpoint = getattr(checkpoint_path, "checkpoint", None)
        if checkpoint is None:  # a plain path or Checkpoint: RLlib's own use, left as it is
            return super().restore(checkpoint_path)
        import pyarrow.fs
        from ray.tune import Checkpoint

        fs, newest = checkpoint.filesystem, checkpoint.path.rstrip("/")
        trial_dir, name = newest.rsplit("/", 1)
        siblings = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
        older = sorted((e.path for e in siblings if e.base_name.startswith("checkpoint_")
                        and e.base_name < name), reverse=True)
        trial = trial_dir.rsplit("/", 1)[-1]
        for path in [newest, *older]:
            candidate = Checkpoint(path, filesystem=fs)
            with candidate.as_directory() as local:
                damage = checkpoint_damage(Path(local))
            if damage is None and path == newest:
                return super().restore(checkpoint_path)
            if damage is None:
                super().restore(candidate)
                self._time_total = _logged_time(fs, trial_dir, self.iteration)
                _say(f"{trial}: restored from {path.rsplit('/', 1)[-1]} (iteration "
                     f"{self.iteration}); iterations after it run again")
                return None
            _say(f"{trial}: {path.rsplit('/', 1)[-1]} is damaged ({damage})")
        _say(f"{trial}: no intact checkpoint; the trial starts again from its first iteration")
        return None

    @classmethod
    def default_resource_request(cls, config: Any):
        if _is_trial_spec(config):
            config = trial_ppo_config(config).to_dict()
        return super().default_resource_request(config)


def _logged_time(fs, trial_dir: str, iteration: int) -> float:
    """The trial's logged total time at ``iteration`` (0 when the log does not say)."""
    try:
        with fs.open_input_stream(f"{trial_dir}/result.json", compression=None) as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0.0
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("training_iteration") == iteration:
            return float(record.get(TIME_TOTAL_S) or 0.0)
    return 0.0


def trial_name(trial: Any) -> str:
    """Tune's trial name and folder for a trial of the grid (`rllib_iam.schema.trial_name`)."""
    return schema.trial_name(trial.config["model"], trial.config["seed"])


def experiment_exists(storage_path: str, name: str) -> bool:
    """Whether ``<storage_path>/<name>`` already exists, locally or behind a cloud URI."""
    if "://" not in storage_path:
        return (Path(storage_path) / name).exists()
    import pyarrow.fs

    fs, root = pyarrow.fs.FileSystem.from_uri(storage_path)
    info = fs.get_file_info(f"{root.rstrip('/')}/{name}")
    return info.type != pyarrow.fs.FileType.NotFound


def stored_trials(storage_path: str, name: str) -> list[dict[str, Any]]:
    """The trial configs (``params.json``) of experiment ``<storage_path>/<name>``, as far as
    they are readable; an unreadable one is left out (the analysis reports it)."""
    import pyarrow.fs

    if "://" in storage_path:
        fs, root = pyarrow.fs.FileSystem.from_uri(storage_path)
    else:
        fs, root = pyarrow.fs.LocalFileSystem(), os.path.abspath(storage_path)
    folder = f"{root.rstrip('/')}/{name}"
    configs = []
    for entry in fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True)):
        if entry.type != pyarrow.fs.FileType.Directory:
            continue
        try:
            with fs.open_input_stream(f"{entry.path}/params.json") as f:
                config = json.loads(f.read())
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and {"model", "seed"} <= set(config):
            configs.append(config)
    return configs


class _KeepDriverLog:
    """Keeps the driver's own copy of a trial's log when Tune retries the trial.

    On a retry, Tune's loggers copy the trial's log back from the storage path over the driver's
    copy. The storage copy is only as new as the last (throttled, asynchronous) experiment sync,
    so the results logged since then were lost: a trial retried after iteration 2's checkpoint
    could keep iterations 1, 3, 4. The driver's copy is never older than the storage's, so it
    is kept when present; a new driver (`--resume`) has none and gets the storage copy as before.
    Iterations logged after the checkpoint a retry restarts from appear twice, as after
    `--resume`; `analysis.load` keeps the later ones.
    """

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if not Path(trial.local_path, file_name).exists():
            super()._restore_from_remote(file_name, trial)


class JsonLog(_KeepDriverLog, JsonLoggerCallback):
    """Tune's `result.json` logger, keeping the driver's copy on a retry."""


class CsvLog(_KeepDriverLog, CSVLoggerCallback):
    """Tune's `progress.csv` logger, keeping the driver's copy on a retry."""


def run_callbacks(track: tuple[str, ...], storage_path: str, name: str) -> list:
    """The Tune callbacks of one run of a grid or search: the two logs (in place of Tune's
    own), the console `Progress` and the trackers of ``--track``."""
    return [JsonLog(), CsvLog(), Progress(),
            *tracking_callbacks(track, storage_path=storage_path, name=name)]


def restore_tuner(path: str, callbacks: list):
    """`Tuner.restore` of the experiment at ``path``, unfinished and errored trials resumed,
    with ``callbacks`` in place of those it was started with: Tune restores the stored
    `RunConfig`, so a ``--track`` given with ``--resume`` would otherwise be ignored (and one
    given only at the start would stay on)."""
    from ray import tune

    tuner = tune.Tuner.restore(path, trainable=Figure5Trial, resume_unfinished=True,
                               resume_errored=True)
    # Tune has no public setter for a restored run's callbacks
    tuner._local_tuner.get_run_config().callbacks = callbacks
    return tuner


def run_grid(spec: GridSpec, *, verbose: int = 1):
    """Run (or, with ``spec.resume``, resume) the grid; returns Tune's `ResultGrid`. The spec
    is checked (`GridSpec.from_flags`) and saved with the experiment as it starts."""
    from ray import tune

    callbacks = run_callbacks(spec.track, spec.experiment.rsplit("/", 1)[0], spec.name)
    if spec.resume:
        return restore_tuner(spec.experiment, callbacks).fit()

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
