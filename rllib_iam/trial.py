"""One trial as a typed record: what a model x seed of a grid or a search runs, checked once.

`TrialSpec` holds everything a trial is (model and its options, seed, env, budget, the PPO
variant with its changes and decay clock, processes); its constructor checks the whole record
and raises `TrialSpecError` with the one line a user sees. Tune stores a trial's config as
`TrialSpec.to_config` (a flat dict: Tune's grid search varies its ``model`` and ``seed``, and
``params.json`` is what the analysis reads); `TrialSpec.from_config` reads one back, trials of
older grids included (`rllib_iam.schema.trial_config` fills in what they lack), and
`TrialSpec.to_ppo_config` builds RLlib's `PPOConfig` through `rllib_iam.training.ppo_config`.

The command-line flags of `experiments/figure5.py` and `experiments/ppo_search.py` are this
record's fields (``--ppo-config`` for `ppo_config`), each field's docstring its ``--help``
(`rllib_iam.cli.add_field_flags`); `parse_flags` reads their text.

    >>> trial = TrialSpec(model="fnn", seed=0, timesteps=2048)
    >>> trial.to_config()["decay_over"], trial.settings.num_envs, trial.update
    ('paper', 8, 1024)
    >>> TrialSpec(model="fnn", seed=0, timesteps=2048, ppo="sgd")
    Traceback (most recent call last):
    ...
    rllib_iam.trial.TrialSpecError: unknown --ppo 'sgd'; valid: paper, tuned, rllib
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from rllib_iam import WAREHOUSE_ID
from rllib_iam.cli import add_field_flags, flag, json_object, positive_int
from rllib_iam.schema import trial_config


class TrialSpecError(ValueError):
    """A value that cannot run, as the one line to show the user (it names the flag)."""


@dataclass(frozen=True)
class TrialSpec:
    """One PPO run of a zoo model on an env: the config of a trial of the grid or the search."""

    model: str
    """a model of rllib_iam.models.MODELS, or MODULE:NAME for one that the module MODULE
    registers (README: Bring your own model)"""
    seed: int
    """training seed of the trial (RLlib's, for every env runner and learner)"""
    timesteps: int = field(metadata={"metavar": "N"})
    """env transitions the trial takes (also written 1e6)"""
    env: str = field(default=WAREHOUSE_ID, metadata={"metavar": "ID"})
    """a registered env id, or MODULE:ID for an env that the module MODULE registers (README:
    Adding an environment)"""
    ppo: str = field(default="paper", metadata={"metavar": "paper|tuned|rllib"})
    """PPO variant: paper, tuned or rllib (rllib_iam.training.PPO_VARIANTS)"""
    ppo_config: dict[str, Any] = field(default_factory=dict, metadata={"metavar": "JSON"})
    """paper PPO settings to change, as JSON, e.g. '{"adam_eps": 1e-5}' (fields of
    rllib_iam.training.PaperPPO; docs/ppo.md); not for --ppo rllib"""
    decay_over: int | str = field(default="paper", metadata={"metavar": "paper|budget|N"})
    """where the lr and clip decays end: paper (the paper's 32e6 transitions, whatever the
    budget), budget (the trial's own budget, as the 2026-11 blog grid ran) or N transitions"""
    model_config: dict[str, Any] = field(default_factory=dict, metadata={"metavar": "JSON"})
    """model options as JSON, e.g. '{"d_set": "items"}'; param_budget scales the model's
    widths to that many parameters"""
    cpus_per_trial: int = field(default=1, metadata={"metavar": "K"})
    """processes of the trial: 1 samples and learns in one process; k > 1 runs k - 1 env
    runners, which share the PPO variant's envs"""

    def __post_init__(self) -> None:
        _check(self)

    @property
    def num_env_runners(self) -> int:
        """Remote env runners: ``cpus_per_trial - 1``."""
        return self.cpus_per_trial - 1

    @functools.cached_property
    def settings(self):
        """The `PaperPPO` settings the trial runs with (the paper's layout for ``rllib``)."""
        from rllib_iam.training import ppo_settings

        return ppo_settings(self.env, "paper" if self.ppo == "rllib" else self.ppo,
                            self.ppo_config)

    @property
    def update(self) -> int:
        """Transitions per update: ``num_envs x rollout_fragment_length``."""
        return self.settings.num_envs * self.settings.rollout_fragment_length

    def to_config(self) -> dict[str, Any]:
        """The trial's config as Tune stores it (``params.json``): empty options left out,
        ``num_env_runners`` in place of `cpus_per_trial`, as grids have always written it."""
        config = {"model": self.model, "seed": self.seed, "env": self.env,
                  "timesteps": self.timesteps, "ppo": self.ppo, "decay_over": self.decay_over,
                  "num_env_runners": self.num_env_runners}
        if self.model_config:
            config["model_config"] = dict(self.model_config)
        if self.ppo_config:
            config["ppo_config"] = dict(self.ppo_config)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TrialSpec:
        """The record of a stored trial config (`to_config`'s form), with the defaults of
        `rllib_iam.schema.OLDER_TRIAL_DEFAULTS` for the keys an older grid did not write."""
        full = trial_config(config)
        return cls(model=full["model"], seed=int(full["seed"]), timesteps=int(full["timesteps"]),
                   env=full["env"], ppo=full["ppo"], ppo_config=dict(full["ppo_config"]),
                   decay_over=full["decay_over"], model_config=dict(full["model_config"]),
                   cpus_per_trial=int(full["num_env_runners"]) + 1)

    def to_ppo_config(self):
        """RLlib's `PPOConfig` of this trial (`rllib_iam.training.ppo_config`): the variant's
        envs split over the env runners."""
        from rllib_iam.training import ppo_config

        return ppo_config(
            self.model, self.env, seed=self.seed, total_timesteps=self.timesteps, ppo=self.ppo,
            num_env_runners=self.num_env_runners,
            num_envs=self.settings.num_envs // max(1, self.num_env_runners),
            model_config=self.model_config or None, ppo_overrides=self.ppo_config or None,
            decay_over=self.decay_over,
        )


def _check(trial: TrialSpec) -> None:
    """Every check of a trial, in the order a user meets them; `TrialSpecError` on the first."""
    from rllib_iam.envs.registry import spec_for
    from rllib_iam.models import model_class, module_spec
    from rllib_iam.training import DECAY_CHOICES, PPO_VARIANTS, ppo_settings

    fail = TrialSpecError
    for name in ("seed", "timesteps", "cpus_per_trial"):
        value, least = getattr(trial, name), 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise fail(f"{flag(name)} must be an integer >= {least}, got {value!r}")
    try:
        model_class(trial.model)
    except ValueError as err:
        raise fail(str(err)) from None
    try:
        spec_for(trial.env)
    except ValueError as err:
        raise fail(str(err)) from None
    if "env_id" in trial.model_config:
        raise fail("--model-config cannot set env_id; use --env")
    try:  # the model on this env first: an error here is not the options' fault
        module_spec(trial.model, trial.env)
    except (ValueError, TypeError) as err:
        raise fail(f"--models {trial.model} on {trial.env}: {err}") from None
    try:
        module_spec(trial.model, trial.env, **trial.model_config)
    except (ValueError, TypeError) as err:
        raise fail(f"--model-config for {trial.model}: {err}") from None
    if trial.ppo not in PPO_VARIANTS:
        raise fail(f"unknown --ppo {trial.ppo!r}; valid: {', '.join(PPO_VARIANTS)}")
    if trial.ppo_config and trial.ppo == "rllib":
        raise fail("--ppo-config changes the paper PPO's settings; it does not apply to "
                   "--ppo rllib")
    if trial.ppo_config:
        try:
            ppo_settings(trial.env, trial.ppo, trial.ppo_config)
        except ValueError as err:
            raise fail(f"--ppo-config: {err}") from None
    decay = trial.decay_over
    if decay not in DECAY_CHOICES and (isinstance(decay, bool) or not isinstance(decay, int)
                                       or decay < 1):
        raise fail(f"--decay-over must be {', '.join(DECAY_CHOICES)} or a positive "
                   f"transition count, got {decay!r}")
    try:
        settings = trial.settings
    except ValueError as err:
        raise fail(f"--ppo {trial.ppo}: {err}") from None
    runners = trial.num_env_runners
    if runners and settings.num_envs % runners:
        raise fail(f"--cpus-per-trial {trial.cpus_per_trial}: the {settings.num_envs} envs "
                   f"must split evenly over {runners} env runners")
    update = settings.num_envs * settings.rollout_fragment_length
    if settings.minibatch_size > update:
        raise fail(f"--ppo-config: minibatch_size {settings.minibatch_size} exceeds the update "
                   f"of num_envs x rollout_fragment_length = {update} transitions")


def parse_flags(values: dict[str, Any]) -> dict[str, Any]:
    """`TrialSpec` field -> value from the flags' text (None: not given, left out); a
    `TrialSpecError` naming the flag whose text is not a value of its field's kind."""
    parsed = {}
    for name, text in values.items():
        if text is None:
            continue
        if not isinstance(text, str):
            parsed[name] = text
        elif name in ("seed",):
            try:
                parsed[name] = int(text)
            except ValueError:
                raise TrialSpecError(f"{flag(name)} must be an integer >= 0, got "
                                     f"{text!r}") from None
        elif name in ("timesteps", "cpus_per_trial"):
            parsed[name] = number(flag(name), text)
        elif name in ("ppo_config", "model_config"):
            try:
                parsed[name] = json_object(text, flag(name))
            except ValueError as err:
                raise TrialSpecError(str(err)) from None
        elif name == "decay_over":
            parsed[name] = decay_over_value(text)
        else:
            parsed[name] = text
    return parsed


def number(flag_name: str, text: str) -> int:
    """A positive count from a flag's text (``4e6`` too), or a `TrialSpecError` naming it."""
    try:
        return positive_int(str(text))
    except argparse.ArgumentTypeError as err:
        raise TrialSpecError(f"{flag_name} {err}") from None


def decay_over_value(text: str | int) -> int | str:
    """``--decay-over``'s text: a named clock or a positive transition count."""
    from rllib_iam.training import DECAY_CHOICES

    if text in DECAY_CHOICES or (isinstance(text, int) and not isinstance(text, bool)):
        return text  # an int is the record's own check
    try:
        return positive_int(str(text))
    except argparse.ArgumentTypeError:
        raise TrialSpecError(f"--decay-over must be {', '.join(DECAY_CHOICES)} or a positive "
                             f"transition count, got {text!r}") from None


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialSpec))
"""The record's fields, each a flag of figure5.py or ppo_search.py (tests/test_trial.py)."""

PARAM_BUDGET_HELP = ("scale each model's widths to N parameters, or to MODEL's count (e.g. "
                     "--param-budget iam: the parameter-matched comparison); model_config's "
                     "param_budget, written as a count")
"""``--param-budget``, the one flag besides the fields: a shorthand of `model_config`'s
``param_budget`` that may name a model (`rllib_iam.gridspec.resolve_param_budget`)."""


def add_trial_flags(parser: argparse.ArgumentParser, names: tuple[str, ...], *,
                    defaults: dict[str, str] | None = None,
                    notes: dict[str, str] | None = None) -> None:
    """Adds the flags of `TrialSpec`'s fields `names` to a script's parser (each field's
    docstring its help: `rllib_iam.cli.add_field_flags`), and ``--param-budget`` with
    ``--model-config``; their text is read by `parse_flags` (or `GridSpec.from_flags`)."""
    add_field_flags(parser, TrialSpec, names, defaults=defaults, notes=notes)
    if "model_config" in names:
        parser.add_argument("--param-budget", metavar="N|MODEL", help=PARAM_BUDGET_HELP)
