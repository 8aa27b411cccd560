"""One Figure 5 grid as a typed record: what `experiments/figure5.py`'s flags ask for, checked.

`GridSpec.from_flags` takes the flags as a user types them (text, or None where not given),
fills in the profile's and the env's defaults, checks every value and the storage (an existing
experiment is never started over; ``--resume`` may only repeat what the experiment was started
with) and returns a `GridSpec`, or raises `GridSpecError` with a one-line message. The spec is
saved as ``grid_spec.json`` in the experiment's folder when the grid starts, and read back on
``--resume``. `rllib_iam.grid.run_grid` runs it.

    >>> import tempfile
    >>> spec = GridSpec.from_flags(profile="smoke", models="fnn,iam",
    ...                            storage_path=tempfile.mkdtemp())
    >>> spec.models, spec.seeds, spec.timesteps, spec.num_envs
    (('fnn', 'iam'), 1, 2048, 8)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

import rllib_iam
from rllib_iam.cli import json_object, positive_int
from rllib_iam.envs.registry import WAREHOUSE, find
from rllib_iam.envs.spec import Profile
from rllib_iam.schema import trial_config
from rllib_iam.storage import Storage
from rllib_iam.trial import TrialSpec, TrialSpecError, decay_over_value

SPEC_FILE = "grid_spec.json"
"""The spec of a grid, in its experiment folder (``<storage_path>/<name>/``)."""

PROFILES: dict[str, Profile] = WAREHOUSE.profiles
"""Warehouse's budgets (`rllib_iam.envs.registry.WAREHOUSE_PROFILES`): ``smoke``, ``quick``,
``blog``, ``paper``; every env's where its `EnvSpec.profiles` has none."""

def profiles_for(env: str) -> dict[str, Profile]:
    """The four profiles for `env`: its own where it has them, Warehouse's otherwise."""
    spec = find(env)
    return {**PROFILES, **(spec.profiles if spec else {})}


DEFAULT_MODELS: tuple[str, ...] = WAREHOUSE.default_models
"""Figure 5's models plus the GRU the reproductions found competitive; every env's where its
`EnvSpec.default_models` is None."""

def default_models_for(env: str) -> tuple[str, ...]:
    """The models a grid on `env` runs unless told otherwise."""
    spec = find(env)
    return (spec.default_models if spec else None) or DEFAULT_MODELS


GRID_FLAGS = {
    "models": ("--models",),
    "seeds": ("--seeds", "--first-seed"),
    "timesteps": ("--timesteps", "--profile"),
    "env": ("--env",),
    "ppo": ("--ppo",),
    "ppo_config": ("--ppo-config",),
    "decay_over": ("--decay-over",),
    "model_config": ("--model-config", "--param-budget"),
    "cpus_per_trial": ("--cpus-per-trial",),
}
"""The grid's shape and the flags that set each part: with ``--resume`` a given flag may only
repeat what the experiment was started with (Tune restores the stored grid; a different value
would be silently ignored)."""


class GridSpecError(TrialSpecError):
    """A flag's value that cannot run, as the one line to show the user."""


@dataclass(frozen=True)
class GridSpec:
    """A Figure 5 grid: every model x seed, each trial one PPO run of `timesteps` transitions
    (`trial`: a `TrialSpec`). Its fields but the derived `checkpoint_every`, `num_envs` and
    `given` are `figure5.py`'s flags, each docstring its ``--help``: the grid's own here, the
    trial's (`timesteps` to `cpus_per_trial`) from `TrialSpec`'s fields."""

    models: tuple[str, ...] = field(metadata={"metavar": "A,B,..."})
    """models, comma-separated, one trial per model and seed (default: the env's Figure 5
    models)"""
    seeds: int = field(metadata={"metavar": "N"})
    """seeds per model (default: the profile's)"""
    first_seed: int = field(metadata={"metavar": "K"})
    """seeds run first-seed .. first-seed + seeds - 1 (default 0), so that a long grid can run
    in chunks of seeds"""
    timesteps: int
    """Env transitions per trial (the profile's unless given)."""
    env: str
    """Gymnasium id of the task: a registered `EnvSpec`'s, or ``MODULE:ID``."""
    profile: str
    """named budget: seeds, transitions per trial and checkpoint frequency (default quick)"""
    checkpoint_every: int
    """Iterations between a trial's checkpoints (the profile's)."""
    ppo: str
    """PPO variant (`rllib_iam.training.PPO_VARIANTS`): ``paper``, ``tuned`` or ``rllib``."""
    ppo_config: dict[str, Any]
    """`PaperPPO` fields changed on top of the variant (not for ``rllib``)."""
    decay_over: int | str
    """Where the lr and clip decays end: ``paper``, ``budget`` or a transition count."""
    model_config: dict[str, Any]
    """Model options for every model (``param_budget`` resolved to a count)."""
    num_envs: int
    """Environments per update, all env runners together (the PPO variant's)."""
    cpus_per_trial: int
    """1: sample and learn in one process; k > 1: k - 1 env runners share `num_envs`."""
    name: str
    """experiment name: its folder under the storage path"""
    storage_path: str
    """local folder, or a URI of a scheme in rllib_iam.storage.SCHEMES, under which the
    experiment's folder is"""
    resume: bool = field(default=False, metadata={"action": "store_true"})
    """continue the experiment --name (interrupted, or with trials to finish) instead of
    starting it"""
    max_concurrent: int | None = field(default=None, metadata={"metavar": "N"})
    """trials at once (default: as many as the cluster's CPUs hold)"""
    track: tuple[str, ...] = field(default=(), metadata={"action": "append",
                                                         "metavar": "wandb|mlflow"})
    """also log every trial to wandb (offline unless WANDB_MODE says otherwise) or mlflow
    (<storage-path>/mlflow.db unless MLFLOW_TRACKING_URI is set); repeat or comma-separate
    for both"""
    given: frozenset[str] = field(default=frozenset(), compare=False)
    """The flags the user gave (``--models``, ...), for the resume check; not saved."""

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    @property
    def env_runners(self) -> int:
        return self.cpus_per_trial - 1

    @property
    def storage(self) -> Storage:
        """`storage_path` as a `Storage` (its scheme is checked by `from_flags`)."""
        return Storage.parse(self.storage_path)

    @property
    def experiment(self) -> str:
        """The experiment folder: an absolute local path or a URI."""
        return self.storage.experiment(self.name)

    def trial(self, model: str, seed: int) -> TrialSpec:
        """The grid's trial of `model` with `seed` (checked: `TrialSpecError`)."""
        return TrialSpec(model=model, seed=seed, timesteps=self.timesteps, env=self.env,
                         ppo=self.ppo, ppo_config=self.ppo_config, decay_over=self.decay_over,
                         model_config=self.model_config, cpus_per_trial=self.cpus_per_trial)

    def trial_space(self) -> dict[str, Any]:
        """What every trial's config holds besides its model and seed (`Figure5Trial`): the
        grid's trial as Tune stores it (`TrialSpec.to_config`)."""
        config = self.trial(self.models[0], self.first_seed).to_config()
        del config["model"], config["seed"]
        return config

    def to_json(self) -> str:
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("given", "resume", "track")}
        return json.dumps(record, indent=1, sort_keys=True) + "\n"

    def shape(self) -> dict[str, list]:
        """The grid's shape as `stored_shape` reads it back, part by part (`GRID_FLAGS`)."""
        return {
            "models": sorted(self.models),
            "seeds": self.seed_list,
            "timesteps": [self.timesteps],
            "env": [self.env],
            "ppo": [self.ppo],
            "ppo_config": [json.dumps(self.ppo_config, sort_keys=True)],
            "decay_over": [str(self.decay_over)],
            "model_config": [json.dumps(self.model_config, sort_keys=True)],
            "cpus_per_trial": [self.cpus_per_trial],
        }

    @classmethod
    def from_flags(
        cls,
        *,
        profile: str | None = None,
        models: str | None = None,
        seeds: int | str | None = None,
        first_seed: int | str | None = None,
        timesteps: int | str | None = None,
        env: str | None = None,
        model_config: str | None = None,
        param_budget: str | None = None,
        ppo: str | None = None,
        ppo_config: str | None = None,
        decay_over: str | None = None,
        storage_path: str = "runs",
        name: str | None = None,
        resume: bool = False,
        max_concurrent: int | str | None = None,
        cpus_per_trial: int | str | None = None,
        track: list[str] | None = None,
    ) -> GridSpec:
        """The checked spec of `figure5.py`'s flags (text as typed, None where not given);
        `GridSpecError` names the first flag that cannot run. Looks at the storage (never
        writes to it)."""
        given = {flag for flag, value in (
            ("--profile", profile), ("--models", models), ("--seeds", seeds),
            ("--first-seed", first_seed), ("--timesteps", timesteps), ("--env", env),
            ("--model-config", model_config), ("--param-budget", param_budget),
            ("--ppo", ppo), ("--ppo-config", ppo_config), ("--decay-over", decay_over),
            ("--cpus-per-trial", cpus_per_trial)) if value is not None}
        profile, env = profile or "quick", env or rllib_iam.WAREHOUSE_ID
        return _resolve(given=frozenset(given), profile=profile, models=models, seeds=seeds,
                        first_seed=first_seed, timesteps=timesteps, env=env,
                        model_config=model_config, param_budget=param_budget, ppo=ppo or "paper",
                        ppo_config=ppo_config, decay_over=decay_over or "paper",
                        storage_path=storage_path, name=name, resume=resume,
                        max_concurrent=max_concurrent, cpus_per_trial=cpus_per_trial or 1,
                        track=track)


def _number(flag: str, value: Any) -> int:
    """A positive count from a flag's text (or an int), or a `GridSpecError` naming the flag."""
    try:
        return value if isinstance(value, int) and value >= 1 else positive_int(str(value))
    except argparse.ArgumentTypeError as err:
        raise GridSpecError(f"argument {flag}: {err}") from None


def _json(flag: str, text: str | dict | None) -> dict[str, Any]:
    if text is None:
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        return json_object(text, flag)
    except ValueError as err:
        raise GridSpecError(str(err)) from None


def _resolve(*, given: frozenset[str], profile: str, models: str | None, seeds, first_seed,
             timesteps, env: str, model_config, param_budget, ppo: str, ppo_config,
             decay_over: str, storage_path: str, name: str | None, resume: bool,
             max_concurrent, cpus_per_trial, track) -> GridSpec:
    from rllib_iam.envs.registry import spec_for
    from rllib_iam.models import MODELS, model_class
    from rllib_iam.tracking import parse_trackers

    seeds = None if seeds is None else _number("--seeds", seeds)
    timesteps = None if timesteps is None else _number("--timesteps", timesteps)
    max_concurrent = None if max_concurrent is None else _number("--max-concurrent",
                                                                 max_concurrent)
    cpus_per_trial = _number("--cpus-per-trial", cpus_per_trial)
    try:
        first_seed = 0 if first_seed is None else int(first_seed)
    except ValueError:
        raise GridSpecError(f"argument --first-seed: invalid int value: {first_seed!r}") from None
    try:
        track = parse_trackers(track)
    except ValueError as err:
        raise GridSpecError(str(err)) from None
    fail = GridSpecError

    profiles = profiles_for(env)
    if profile not in profiles:
        raise fail(f"unknown profile {profile!r}; valid: {', '.join(profiles)}")
    names = [m.strip() for m in (models or ",".join(default_models_for(env))).split(",")
             if m.strip()]
    unknown = []
    for m in names:
        try:
            model_class(m)  # a module:NAME model's module is imported (it registers NAME)
        except ValueError as err:
            if ":" in m:
                raise fail(f"--models: {err}") from None
            unknown.append(m)
    if unknown or not names:
        raise fail(f"unknown model(s) {', '.join(unknown) or '(none)'}; "
                   f"valid: {', '.join(MODELS)}, or module:NAME for one a module registers")
    if len(set(names)) != len(names):
        raise fail(f"--models lists a model twice: {models}")
    try:
        spec_for(env)
    except ValueError as err:
        raise fail(str(err)) from None
    options = _json("--model-config", model_config)
    if param_budget is not None:
        if "param_budget" in options:
            raise fail("--param-budget and --model-config's param_budget conflict; give one")
        options["param_budget"] = resolve_param_budget(param_budget, env)
    if first_seed < 0:
        raise fail(f"--first-seed must be 0 or more, got {first_seed}")
    budget = profiles[profile]
    try:  # every model's trial: the checks of a trial are TrialSpec's
        trials = [TrialSpec(model=m, seed=first_seed, timesteps=timesteps or budget.timesteps,
                            env=env, ppo=ppo, ppo_config=_json("--ppo-config", ppo_config),
                            decay_over=decay_over_value(decay_over), model_config=options,
                            cpus_per_trial=cpus_per_trial) for m in names]
    except TrialSpecError as err:
        raise fail(str(err)) from None
    trial = trials[0]
    if timesteps is not None and timesteps < trial.update:
        raise fail(f"--timesteps {timesteps} is less than one update: give at least "
                   f"{trial.update} (num_envs x rollout_fragment_length of the {ppo} PPO)")
    name = name or f"figure5-{profile}"
    if "/" in name or name.startswith("."):
        raise fail(f"--name must be a plain folder name, got {name!r}")
    spec = GridSpec(
        models=tuple(names), seeds=seeds or budget.seeds, first_seed=first_seed,
        timesteps=trial.timesteps, env=env, profile=profile,
        checkpoint_every=budget.checkpoint_every, ppo=ppo, ppo_config=trial.ppo_config,
        decay_over=trial.decay_over, model_config=options, num_envs=trial.settings.num_envs,
        cpus_per_trial=cpus_per_trial, name=name, storage_path=storage_path, resume=resume,
        max_concurrent=max_concurrent, track=track, given=given,
    )
    check_storage(spec)
    return spec


def resolve_param_budget(text: str, env: str) -> int:
    """``--param-budget``: a positive count, or a model name standing for its default count
    on `env`."""
    from rllib_iam.models import MODELS, count_params, model_class, module_spec

    if text in MODELS or ":" in text:
        try:
            model_class(text)
        except ValueError as err:
            raise GridSpecError(f"--param-budget {text}: {err}") from None
        try:
            return count_params(module_spec(text, env).build())
        except ValueError as err:
            raise GridSpecError(f"--param-budget {text}: {err}") from None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise GridSpecError(f"--param-budget must be a positive count or a model name "
                            f"({', '.join(MODELS)}), got {text!r}") from None


def check_storage(spec: GridSpec) -> None:
    """Refuses a storage path that cannot be written, starting an experiment that exists,
    resuming one that does not (or is not Tune's), and a resume whose given flags contradict
    the stored grid."""
    fail = GridSpecError
    try:
        storage = Storage.parse(spec.storage_path)
    except ValueError as err:
        raise fail(str(err)) from None
    if storage.is_local:
        existing = storage.local_path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise fail(f"storage path {spec.storage_path!r} is not a writable folder")
    check_experiment(spec.storage_path, spec.name, spec.resume)
    if spec.resume:
        conflict = resume_conflict(spec, stored_shape(spec.experiment))
        if conflict:
            raise fail(f"--resume continues {spec.name!r} as it was started, but {conflict}; "
                       "drop the flag, or start another experiment with --name")


def check_experiment(storage_path: str, name: str, resume: bool) -> None:
    """Refuses starting experiment `name` where it exists, and resuming it where it does not
    or is not Tune's (`GridSpecError`); the grid's and the search's one check."""
    try:
        storage = Storage.parse(storage_path)
        exists = storage.exists(name)
    except ValueError as err:
        raise GridSpecError(str(err)) from None
    except OSError as err:
        raise GridSpecError(f"cannot reach storage path {storage_path!r}: {err}") from None
    if exists and not resume:
        raise GridSpecError(f"experiment {name!r} already exists in {storage_path!r}; pass "
                            "--resume to continue it or --name to start another")
    if resume and not exists:
        raise GridSpecError(f"nothing to resume: no experiment {name!r} in {storage_path!r}")
    if resume and not resumable(storage.experiment(name)):
        raise GridSpecError(f"{name!r} in {storage_path!r} is not a Tune experiment (no "
                            "tuner.pkl): nothing to resume; start another with --name")


def resumable(experiment: str) -> bool:
    """Whether the folder holds a Tune experiment that `Tuner.restore` can read."""
    from ray import tune

    return tune.Tuner.can_restore(experiment)


def save(spec: GridSpec) -> None:
    """Writes ``grid_spec.json`` into the experiment's folder (which Tune has created)."""
    spec.storage.write_text(f"{spec.name}/{SPEC_FILE}", spec.to_json())


def stored_shape(experiment: str) -> dict[str, list] | None:
    """The shape of the grid stored at `experiment` (a folder or URI): from its
    ``grid_spec.json``, or, for a grid started before that file existed, from its trials'
    configs; None when neither says."""
    parent, name = experiment.rstrip("/").rsplit("/", 1)
    storage = Storage.parse(parent)
    try:
        record = json.loads(storage.read_text(f"{name}/{SPEC_FILE}"))
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict):
        known = {f.name for f in dataclasses.fields(GridSpec)}
        record = {k: v for k, v in record.items() if k in known}
        record["models"] = tuple(record.get("models", ()))
        try:
            return GridSpec(**record).shape()
        except TypeError:  # written by a version with other fields: read the trials instead
            pass

    trials = [trial_config(t) for t in storage.trial_configs(name)]
    if not trials:  # interrupted before any trial wrote its config: nothing to compare
        return None
    return {
        "models": sorted({t["model"] for t in trials}),
        "seeds": sorted({int(t["seed"]) for t in trials}),
        "timesteps": sorted({int(t.get("timesteps", 0)) for t in trials}),
        "env": sorted({t["env"] for t in trials}),
        "ppo": sorted({t["ppo"] for t in trials}),
        "ppo_config": sorted({json.dumps(t["ppo_config"], sort_keys=True) for t in trials}),
        "decay_over": sorted({str(t["decay_over"]) for t in trials}),
        "model_config": sorted({json.dumps(t["model_config"], sort_keys=True)
                                for t in trials}),
        "cpus_per_trial": sorted({int(t["num_env_runners"]) + 1 for t in trials}),
    }


def resume_conflict(spec: GridSpec, stored: dict[str, list] | None) -> str | None:
    """What a flag the user gave contradicts in the stored grid's shape, or None."""
    if stored is None:
        return None
    asked = spec.shape()
    for key, flags in GRID_FLAGS.items():
        named = [f for f in flags if f in spec.given]
        if named and asked[key] != stored[key]:
            shown, wanted = (", ".join(map(str, v)) for v in (stored[key], asked[key]))
            return f"{'/'.join(named)} asks for {key} {wanted} (stored: {shown})"
    return None
