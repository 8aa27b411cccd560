"""RLlib `PPOConfig`s for the zoo's models: the reference's PPO, or RLlib's stock PPO.

`ppo_config("iam", total_timesteps=4_000_000)` is all an experiment needs; the returned config
can still be adjusted with RLlib's own setters before `.build_algo()` or handing it to Tune.

Three variants, picked by name:

- ``paper``: PPO as the authors' code ran it on Warehouse (`PAPER_PPO`, docs/spec/paper.md):
  8 envs x 128 steps per update, minibatch 256, 3 epochs, GAE (0.99, 0.95) cut every 8 steps,
  lr and clip ε decayed linearly to ~0, PPO2 value clipping, no advantage normalisation, no
  gradient clipping, the 100-step time limit treated as terminal. Uses `PaperPPOTorchLearner`.
- ``tuned``: ``paper`` with the changes a Ray Tune search found (the env's
  `EnvSpec.tuned_ppo`; the search, its space and its winner: results/ppo-search/). Same learner
  and loss code; only the settings differ. Exists for the envs that were searched (Warehouse).
- ``rllib``: RLlib 2.60's stock `PPOConfig` defaults (lr 5e-5, 30 epochs, λ 1.0, clip 0.3,
  KL penalty, standardised advantages, ...) with the same env, model, update size and
  minibatch size; the time limit is a truncation (bootstrapped), RLlib's reading of it.

`total_timesteps` counts environment transitions (RLlib's `num_env_steps_sampled_lifetime`);
the reference's "steps" are these divided by the number of environments (8).

Each env's paper settings are `PaperPPO` with the fields its `EnvSpec.ppo` changes
(`rllib_iam.envs.registry`: Traffic and Atari GAE over the whole fragment, Traffic BPTT 32).

Schedules run on the paper's clock by default (`decay_over="paper"`): the lr and ε decays end at
`PaperPPO.decay_transitions` (Warehouse: 4e6 reference steps x 8 envs = 32e6 transitions)
whatever the trial's own budget, so a shorter trial is the first part of the paper's run.
`decay_over="budget"` ends them at the trial's budget (what the `blog` grid of 2026-11 ran);
an integer ends them at that many transitions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

import rllib_iam
from rllib_iam.envs.registry import ByEnv, find, spec_for
from rllib_iam.models import env_config_for, model_class, module_spec, register
from rllib_iam.models.train_mode import FLAT_TRAIN
from rllib_iam.ppo import (
    ADAM_EPS,
    ADAM_FUSED,
    CLIP_PARAM_SCHEDULE,
    FAST_PIECES,
    GAE_HORIZON,
    NORMALIZE_ADVANTAGES,
    VF_CLIP,
    FragmentPhase,
    PaperPPOTorchLearner,
)
from rllib_iam.ppo.sampling import LeanEnvRunner
from rllib_iam.schema import REFERENCE_ENVS

PPO_VARIANTS = ("paper", "tuned", "rllib")
"""Names `ppo_config(ppo=...)` (and the experiments' `--ppo`) accept."""

DECAY_CHOICES = ("paper", "budget")
"""Named `decay_over` values; an integer number of transitions is the third form."""

VF_CLIP_MODES = ("max", "clamp", "none")
"""`PaperPPO.vf_clip`: PPO2's max of clipped and unclipped errors, the clipped error alone
(SB3's ``clip_range_vf``), or no value clipping."""


@dataclass(frozen=True)
class PaperPPO:
    """The reference's PPO settings for Warehouse (its final commit; docs/spec/paper.md)."""

    num_envs: int = REFERENCE_ENVS
    """parallel environments"""
    rollout_fragment_length: int = 128
    """steps per environment between updates (8 x 128 = 1024 transitions per update)"""
    gae_horizon: int = 8
    """the reference's "time horizon": GAE is cut and bootstrapped every 8 steps of an env"""
    minibatch_size: int = 256
    """transitions per minibatch (32 steps x 8 envs; 4 minibatches per epoch)"""
    num_epochs: int = 3
    """passes over each update's data"""
    gamma: float = 0.99
    """discount"""
    lambda_: float = 0.95
    """GAE λ"""
    lr: float = 2.5e-4
    """Adam learning rate at the start, decayed linearly ..."""
    lr_final: float = 1e-10
    """... to this at the end of the run (the reference's polynomial_decay end value)"""
    clip_param: float = 0.1
    """PPO clip ε at the start (policy ratio and value clipping), decayed linearly ..."""
    clip_param_final: float = 1e-5
    """... to this at the end of the run (the reference's end value)"""
    entropy_coeff: float = 0.01
    """entropy bonus weight (the reference's decay runs from 0.01 to 0.01: constant)"""
    vf_loss_coeff: float = 1.0
    """value loss weight (value loss without the 0.5 factor, as in the reference)"""
    max_seq_len: int = 8
    """BPTT sequence length for recurrent models"""
    decay_transitions: int = 32_000_000
    """transitions over which the lr and ε decays run with ``decay_over="paper"`` (the
    reference's `polynomial_decay(..., max_steps=4e6)` counts vector steps of 8 envs)"""
    adam_eps: float = 1e-8
    """Adam's ε: `tf.train.AdamOptimizer`'s default, which the reference used (torch's too;
    SB3 and baselines' PPO2 use 1e-5)"""
    vf_clip: str = "max"
    """value loss form, one of `VF_CLIP_MODES` (the reference: ``max``)"""
    normalize_advantages: bool = False
    """standardise advantages per update (the reference did not)"""
    grad_clip: float | None = None
    """global gradient-norm clip, or None (the reference: none)"""
    time_limit_as_terminal: bool = True
    """the 100-step time limit reaches GAE as a terminal state (the reference's buffer: no
    bootstrap, so the value must guess the time left from an observation without a clock);
    False reports it as a truncation and bootstraps V of the last observation"""
    adam_fused: bool = False
    """Adam as torch's fused kernel (``torch.optim.Adam(fused=True)``: one pass over all the
    parameters; ~2.5x faster per step on CPU, worth ~10% of a ``tuned`` update of 160 SGD
    steps). It rounds differently from the per-tensor loop RLlib builds, so it is not bit for
    bit; docs/throughput.md has the statistical check against the default"""


PAPER_PPO = PaperPPO()
"""Warehouse's settings, also the default of every env without its own (`EnvSpec.ppo`)."""


def paper_ppo_for(env: str) -> PaperPPO:
    """The reference's PPO settings for `env` (Warehouse's where the env is not registered)."""
    spec = find(env)
    if spec is None:
        return PAPER_PPO
    return dataclasses.replace(PAPER_PPO, **_checked(spec.ppo))


PAPER_PPO_BY_ENV = ByEnv(lambda spec: paper_ppo_for(spec.id))
"""The reference's PPO per registered environment id (paper.md's PPO table), from the specs."""

TUNED_PPO_BY_ENV = ByEnv(lambda spec: spec.tuned_ppo)
"""The ``tuned`` variant per env id where a search ran: `PaperPPO` fields changed from the
env's paper settings (the decays still run on the paper's clock)."""


PPO_FIELDS: dict[str, str] = {
    f.name: f.type for f in dataclasses.fields(PaperPPO)
}


def _check_field(name: str, value: Any) -> Any:
    """`value` for `PaperPPO` field `name`, or ValueError saying what is wrong."""
    if name not in PPO_FIELDS:
        raise ValueError(f"unknown PPO setting {name!r}; valid: {', '.join(PPO_FIELDS)}")
    kind = PPO_FIELDS[name]
    optional = "None" in kind
    if value is None and optional:
        return None
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"PPO setting {name} must be an integer >= 1, got {value!r}")
    elif kind.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"PPO setting {name} must be a number >= 0, got {value!r}")
        value = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"PPO setting {name} must be true or false, got {value!r}")
    elif name == "vf_clip" and value not in VF_CLIP_MODES:
        raise ValueError(f"PPO setting vf_clip must be one of {', '.join(VF_CLIP_MODES)}, "
                         f"got {value!r}")
    return value


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: _check_field(name, value) for name, value in fields.items()}


def ppo_settings(
    env: str = rllib_iam.WAREHOUSE_ID, ppo: str = "paper", overrides: dict | None = None
) -> PaperPPO:
    """The settings variant `ppo` (``paper`` or ``tuned``) uses on `env`, with `overrides`
    (`PaperPPO` field -> value, e.g. ``{"adam_eps": 1e-5}``) on top; ValueError on a bad one."""
    if ppo == "paper":
        base = paper_ppo_for(env)
    elif ppo == "tuned":
        spec = find(env)
        if spec is None or spec.tuned_ppo is None:
            raise ValueError(f"no tuned PPO for {env}; it exists for "
                             f"{', '.join(TUNED_PPO_BY_ENV)} (results/ppo-search/)")
        base = dataclasses.replace(paper_ppo_for(env), **_checked(spec.tuned_ppo))
    else:
        raise ValueError(f"PPO settings exist for the paper and tuned variants, not {ppo!r}")
    return dataclasses.replace(base, **_checked(overrides or {}))


def decay_end(decay_over: int | str, total_timesteps: int, settings: PaperPPO) -> int:
    """The transition count at which the lr and ε decays end (module docstring)."""
    if decay_over == "paper":
        return settings.decay_transitions
    if decay_over == "budget":
        return total_timesteps
    if isinstance(decay_over, bool) or not isinstance(decay_over, int) or decay_over < 1:
        raise ValueError(f"decay_over must be {' or '.join(DECAY_CHOICES)} or an integer >= 1, "
                         f"got {decay_over!r}")
    return decay_over


RUNNER_RESTART_DELAY_S = 5.0
"""Seconds before RLlib restarts a dead env runner (its default is 60)."""


class OneTorchThread(RLlibCallback):
    """One torch thread in every process that runs a module (algorithm/learner, env runners).

    The reference ran one thread per actor; on a small machine more threads per process only
    oversubscribe the cores that the env runners and the learner share.
    """

    def on_algorithm_init(self, **kwargs: Any) -> None:
        torch.set_num_threads(1)

    def on_environment_created(self, **kwargs: Any) -> None:
        torch.set_num_threads(1)


class GameScore(RLlibCallback):
    """Logs the score an env reports at an episode's end (under its spec's `score_key`) as
    ``env_runners/<score_key>``, a mean over RLlib's episode window.

    On Atari (``game_score``) training episodes are lives with clipped rewards
    (`rllib_iam.envs.atari`), so RLlib's ``episode_return_mean`` is not the game score; the env
    reports the score at a game's end.
    """

    def on_episode_end(self, *, episode: Any, env_runner: Any, metrics_logger: Any, **kw) -> None:
        key = spec_for(env_runner.config.env).score_key
        score = episode.get_infos(-1).get(key)
        if score is not None:
            window = env_runner.config.metrics_num_episodes_for_smoothing
            metrics_logger.log_value(key, float(score), reduce="mean", window=window)


def ppo_config(
    model: str | type,
    env: str = rllib_iam.WAREHOUSE_ID,
    *,
    seed: int = 0,
    total_timesteps: int,
    ppo: str = "paper",
    num_envs: int | None = None,
    rollout_fragment_length: int | None = None,
    minibatch_size: int | None = None,
    num_env_runners: int = 0,
    model_config: dict[str, Any] | None = None,
    ppo_overrides: dict[str, Any] | None = None,
    decay_over: int | str = "paper",
    stock_pieces: bool = False,
) -> PPOConfig:
    """A new-API-stack `PPOConfig` training zoo model `model` on `env`.

    Args:
        model: a name in `rllib_iam.models.MODELS`, ``module:NAME`` for a model a module
            registers, or a `ZooModule` subclass (registered here under its `NAME`).
        env: a registered gymnasium id (`rllib_iam.envs.registry`), or ``module:id`` for one
            that `module` registers; run as its native vector env.
        seed: `config.debugging(seed=...)`, which RLlib passes to every env runner and learner.
        total_timesteps: env transitions the run will take; the lr and ε schedules end there.
        ppo: ``"paper"``, ``"tuned"`` or ``"rllib"`` (module docstring).
        num_envs: environments per env runner (default: `paper_ppo_for(env)`'s).
        rollout_fragment_length: steps per environment between updates; the update has
            `num_envs * rollout_fragment_length * max(1, num_env_runners)` transitions
            (default: `paper_ppo_for(env)`'s).
        minibatch_size: transitions per SGD minibatch (default: `paper_ppo_for(env)`'s).
        num_env_runners: remote env runners (0 samples in the algorithm's own process).
        model_config: extra model keys (e.g. ``param_budget``), over the paper's BPTT length.
        ppo_overrides: `PaperPPO` fields to change (``paper`` and ``tuned``), e.g.
            ``{"adam_eps": 1e-5, "vf_clip": "clamp"}``.
        decay_over: ``"paper"``, ``"budget"`` or a transition count (module docstring).
        stock_pieces: run RLlib's own env runner, BPTT padding connector and gradient step in
            place of the project's faster ones (`rllib_iam.ppo`: the same episodes and weights,
            bit for bit; tests/test_ppo.py), e.g. to tell a Ray upgrade's breakage apart.
    """
    if isinstance(model, type):  # a class of one's own: registered under its NAME
        model = register(model).NAME
    model_class(model)  # the one check of a model's name (ValueError listing the valid ones)
    if ppo not in PPO_VARIANTS:
        raise ValueError(f"unknown ppo variant {ppo!r}; valid: {', '.join(PPO_VARIANTS)}")
    spec = spec_for(env)
    if ppo == "rllib":
        if ppo_overrides:
            raise ValueError("ppo_overrides apply to the paper variant, not rllib")
        p = paper_ppo_for(env)
    else:
        p = ppo_settings(env, ppo, ppo_overrides)
    num_envs = p.num_envs if num_envs is None else num_envs
    if rollout_fragment_length is None:
        rollout_fragment_length = p.rollout_fragment_length
    minibatch_size = p.minibatch_size if minibatch_size is None else minibatch_size
    for name, value, least in (
        ("total_timesteps", total_timesteps, 1),
        ("num_envs", num_envs, 1),
        ("rollout_fragment_length", rollout_fragment_length, 1),
        ("minibatch_size", minibatch_size, 1),
        ("num_env_runners", num_env_runners, 0),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    decay = decay_end(decay_over, total_timesteps, p)
    train_batch_size = num_envs * rollout_fragment_length * max(1, num_env_runners)
    if minibatch_size > train_batch_size:
        raise ValueError(
            f"minibatch_size ({minibatch_size}) must be <= the update size "
            f"num_envs * rollout_fragment_length * max(1, num_env_runners) = {train_batch_size}"
        )

    paper = ppo != "rllib"
    config = (
        PPOConfig()
        .environment(
            env,
            env_config={
                "time_limit_as_terminal": paper and p.time_limit_as_terminal,
                **env_config_for(model, env),
            },
        )
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs,
            num_cpus_per_env_runner=1,
            rollout_fragment_length=rollout_fragment_length,
            gym_env_vectorize_mode="vector_entry_point",
            # the stock runner's work without its per-step connector pipelines (same episodes)
            env_runner_cls=SingleAgentEnvRunner if stock_pieces else LeanEnvRunner,
        )
        .rl_module(
            rl_module_spec=module_spec(
                model,
                env_id=env,
                **{"max_seq_len": p.max_seq_len, **(model_config or {}),
                   **({FLAT_TRAIN: False} if stock_pieces else {})},
            )
        )
        .training(train_batch_size_per_learner=train_batch_size, minibatch_size=minibatch_size)
        .callbacks(
            [*([FragmentPhase] if paper else []), OneTorchThread]
            + ([GameScore] if spec.score_key else [])
        )
        .debugging(seed=seed)
        # a dead env runner is restarted (RLlib's default) after this pause, not its default
        # 60 s: on one machine a runner comes back in seconds, and each iteration during the
        # pause samples nothing (docs/reliability.md)
        .fault_tolerance(delay_between_env_runner_restarts_s=RUNNER_RESTART_DELAY_S)
    )
    if paper:
        config.training(
            num_epochs=p.num_epochs,
            shuffle_batch_per_epoch=True,
            gamma=p.gamma,
            lambda_=p.lambda_,
            use_gae=True,
            lr=[[0, p.lr], [decay, p.lr_final]],
            clip_param=p.clip_param,
            entropy_coeff=p.entropy_coeff,
            vf_loss_coeff=p.vf_loss_coeff,
            use_kl_loss=False,
            kl_coeff=0.0,
            grad_clip=p.grad_clip,
            grad_clip_by="global_norm",
        ).learners(
            learner_class=PaperPPOTorchLearner,
            learner_config_dict={
                GAE_HORIZON: p.gae_horizon,
                NORMALIZE_ADVANTAGES: p.normalize_advantages,
                CLIP_PARAM_SCHEDULE: [[0, p.clip_param], [decay, p.clip_param_final]],
                VF_CLIP: p.vf_clip,
                ADAM_EPS: p.adam_eps,
                ADAM_FUSED: p.adam_fused,
                FAST_PIECES: not stock_pieces,
            }
        )
    return config
