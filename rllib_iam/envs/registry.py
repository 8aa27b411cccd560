"""The environments the library knows, one `EnvSpec` each, and the registry they are read from.

`register(spec)` puts a spec here and its id in gymnasium's registry; importing `rllib_iam`
registers the built-in ones at the end of this file, one line each. Every per-env setting the
library reads (`rllib_iam.training`, `rllib_iam.grid`, the models, `rllib_iam.rollout`, the
analysis) comes from `spec_for(env)`.

An environment outside the package is a module that defines its env and its `EnvSpec` and calls
`register` on import. It is named ``module:id``, gymnasium's own form (``gymnasium.make``
imports the module first), so every process that meets the name (the driver, Tune's trials,
RLlib's env runners, a checkpoint's reader) imports the module and so registers the env for
itself. README: "Adding an environment".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import gymnasium as gym

from rllib_iam.envs.spec import EnvSpec, Profile
from rllib_iam.plugins import import_named

SPECS: dict[str, EnvSpec] = {}
"""Every registered spec by its gymnasium id, in the order registered."""


def register(spec: EnvSpec) -> EnvSpec:
    """Add `spec` to `SPECS` and its id to gymnasium's registry (the entry points are imported
    when an env is made); registering an equal spec again changes nothing, a different one
    under a taken id is a ValueError."""
    known = SPECS.get(spec.id)
    if known is not None and known != spec:
        raise ValueError(f"env {spec.id!r} is already registered with another spec")
    SPECS[spec.id] = spec
    if spec.id not in gym.registry:
        gym.register(
            spec.id,
            entry_point=spec.entry_point,
            vector_entry_point=spec.vector_entry_point,
            kwargs=dict(spec.kwargs),
            # the envs end their own episodes and check their own options
            max_episode_steps=None,
            disable_env_checker=True,
        )
    return spec


def env_ids() -> list[str]:
    """The ids of every registered spec, sorted."""
    return sorted(SPECS)


def spec_for(env: str) -> EnvSpec:
    """The spec of `env`: a registered id, or ``module:id``, whose module is imported first
    (its import registers the id); a one-line ValueError naming the known ids otherwise."""
    env_id = import_named(env, "env")
    if env_id not in SPECS:
        raise ValueError(f"unknown env {env!r}; valid: {', '.join(env_ids())}")
    return SPECS[env_id]


def find(env: str) -> EnvSpec | None:
    """`spec_for(env)`, or None where `env` is unknown (for the settings that fall back to
    Warehouse's, and results of envs this process cannot import)."""
    try:
        return spec_for(env)
    except ValueError:
        return None


class ByEnv(Mapping[str, Any]):
    """A read-only view, env id -> ``value(spec)``, of the registered specs for which that is
    not None. It is read on every access, so a spec registered later is in it."""

    def __init__(self, value: Callable[[EnvSpec], Any]) -> None:
        self._value = value

    def _items(self) -> dict[str, Any]:
        return {env: v for env, spec in SPECS.items() if (v := self._value(spec)) is not None}

    def __getitem__(self, env: str) -> Any:
        return self._items()[env]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"ByEnv({self._items()!r})"


# -- Warehouse ----------------------------------------------------------------------------------
WAREHOUSE_PROFILES: dict[str, Profile] = {
    "smoke": Profile(seeds=1, timesteps=2 * 1024, checkpoint_every=1),
    "quick": Profile(seeds=2, timesteps=150 * 1024, checkpoint_every=25),
    "blog": Profile(seeds=5, timesteps=4_000_000, checkpoint_every=100),
    "paper": Profile(seeds=5, timesteps=32_000_000, checkpoint_every=250),
}
"""``smoke``: every model, 1 seed, 2 iterations (the tests). ``quick``: a laptop run that
separates learners from random. ``blog``: the public reproductions' budget (4e6 transitions).
``paper``: the paper's 4e6 reference steps of 8 envs = 32e6 transitions. Every env's where it
has none of its own."""

WAREHOUSE = EnvSpec(
    id="rllib_iam/Warehouse-v0",
    label="Warehouse",
    entry_point="rllib_iam.envs.warehouse:WarehouseEnv",
    vector_entry_point="rllib_iam.envs.warehouse:WarehouseVectorEnv",
    # results/ppo-search/winner.json: random search + ASHA over 20 samples of 14 settings,
    # `fnn`, seed 0, up to 1e6 transitions (tests check the two agree). Against `paper`: 4x
    # the envs, 1/4 of the fragment (the same 1,024 transitions per update), minibatches of 64
    # and 10 epochs (160 SGD steps per update, not 12), a higher lr, a smaller entropy bonus,
    # standardised advantages and gradient clipping; the reference's GAE horizon, value clip,
    # Adam ε and terminal time limit stay.
    tuned_ppo={
        "adam_eps": 1e-08,
        "clip_param": 0.1,
        "entropy_coeff": 0.003,
        "gae_horizon": 8,
        "grad_clip": 0.5,
        "lambda_": 0.95,
        "lr": 0.0003479054405062598,
        "minibatch_size": 64,
        "normalize_advantages": True,
        "num_envs": 32,
        "num_epochs": 10,
        "rollout_fragment_length": 32,
        "time_limit_as_terminal": True,
        "vf_clip": "max",
    },
    profiles=WAREHOUSE_PROFILES,
    # Figure 5's models plus the GRU the reproductions found competitive
    default_models=("iam", "lstm", "gru", "fnn", "fnn8"),
    d_set_resolver="rllib_iam.envs.warehouse:resolve_d_set",
    heuristics="rllib_iam.heuristics",
    heuristics_table="results/heuristics/warehouse.csv",
    # read off the paper's Figure 5 at 4e6 reference steps (docs/spec/paper.md)
    paper_final={"iam": 41.0, "lstm": 35.4, "fnn": 39.3, "fnn8": 35.6},
    # PyTorch PPO, GRU, 32 processes, 4e6 transitions
    reproduction_final={"gru": 39.8, "iam": 38.6, "fnn": 36.8, "fnn8": 35.0},
    # a blog, PyTorch PPO, 4e6 transitions: a ranking, no numbers
    blog_finding={"fnn": "best of all", "gru": "slightly above iam", "iam": "slightly below gru"},
)

WAREHOUSE_TWIN = dataclasses.replace(
    WAREHOUSE,
    id="rllib_iam/WarehouseTwin-v0",
    label="Warehouse, ages observed",
    # the fully observable twin: the same rules, each shelf's item age in the observation
    kwargs={"observe_ages": True},
    sizes_like=WAREHOUSE.id,
    # nothing published for it; the heuristics (the same dynamics) stay as reference lines
    paper_final={},
    reproduction_final={},
    blog_finding={},
)
"""`rllib_iam/WarehouseTwin-v0`: what perfect information is worth to a learner is its return
minus Warehouse's at the same budget (``results/memory-gap/``)."""

# -- Traffic ------------------------------------------------------------------------------------
TRAFFIC = EnvSpec(
    id="rllib_iam/Traffic-v0",
    label="Traffic",
    # SUMO through libsumo; its simulations start at the first reset
    entry_point="rllib_iam.envs.traffic:TrafficEnv",
    vector_entry_point="rllib_iam.envs.traffic:TrafficVectorEnv",
    # docs/traffic.md: the reference's Traffic configs set ``time_horizon: 128`` (GAE over the
    # whole 128-step fragment) and ``seq_len: 32``; epochs 3, minibatch 32 steps x 8 envs; lr, ε,
    # entropy, gamma, lambda as Warehouse's
    ppo={"gae_horizon": 128, "max_seq_len": 32},
    # ``paper`` is the paper's 2e6 reference steps of 8 envs = 16e6 transitions; ``blog`` reads
    # 2e6 as transitions, as the public reproductions read the Warehouse's 4e6; ``smoke`` and
    # ``quick`` as the Warehouse's
    profiles={
        "smoke": Profile(seeds=1, timesteps=2 * 1024, checkpoint_every=1),
        "quick": Profile(seeds=2, timesteps=150 * 1024, checkpoint_every=25),
        "blog": Profile(seeds=5, timesteps=2_000_000, checkpoint_every=100),
        "paper": Profile(seeds=5, timesteps=16_000_000, checkpoint_every=250),
    },
    default_models=("iam", "lstm", "gru", "fnn", "fnn32"),
    d_set_resolver="rllib_iam.envs.traffic:resolve_d_set",
    heuristics="rllib_iam.heuristics",
    heuristics_table="results/heuristics/traffic.csv",
    paper_final={"iam": -3.5, "lstm": -4.2, "fnn": -5.6, "fnn32": -4.15},
)

# -- Flickering Atari ---------------------------------------------------------------------------
GAME_SCORE = "game_score"
"""Info key of a finished Atari game's unclipped score (`rllib_iam.envs.atari`)."""

ATARI_PROFILES: dict[str, Profile] = {
    "smoke": Profile(seeds=1, timesteps=1024, checkpoint_every=1),
    "quick": Profile(seeds=2, timesteps=20 * 1024, checkpoint_every=5),
    "blog": Profile(seeds=3, timesteps=2_000_000, checkpoint_every=100),
    "paper": Profile(seeds=5, timesteps=10_000_000, checkpoint_every=250),
}
"""``smoke`` one update per model (the tests); ``quick`` 20 updates, a plumbing and speed check
on a laptop, far too short to learn Pong; ``blog`` and ``paper`` cluster budgets (cluster/):
paper.md gives no Atari budget, so ``paper`` is the customary 10M transitions (40M frames) of
PPO on Atari."""


ATARI_FLICKER = 0.5
"""The paper's flicker probability: each new frame of a Flickering game is blanked with
probability 1/2 (here, not in `rllib_iam.envs.atari`, so that a Warehouse run never imports
ale-py)."""


def atari(game: str, flicker: bool) -> EnvSpec:
    """One Atari game (DeepMind preprocessing, `rllib_iam.envs.atari`), flickering or not."""
    name = f"{'Flickering' if flicker else ''}{game}"
    return EnvSpec(
        id=f"rllib_iam/{name}-v0",
        label=name,
        entry_point="rllib_iam.envs.atari:make_atari",
        vector_entry_point="rllib_iam.envs.atari:make_atari_vector",
        kwargs={"game": game, "flicker": ATARI_FLICKER if flicker else 0.0},
        # docs/atari.md: the paper's table gives a time horizon of 128 (GAE over the whole
        # 128-step fragment) and sequence lengths of 4 and 8; 8 here, 4 through the model
        # config (``max_seq_len``); the rest as Warehouse's
        ppo={"gae_horizon": 128, "max_seq_len": 8},
        profiles=ATARI_PROFILES,
        # the attention IAM, its static ablation, the CNN-LSTM and the Nature FNN on 4 frames
        default_models=("iam_attention", "iam_static", "lstm", "fnn"),
        # training episodes are lives with clipped rewards; the env reports each game's score
        score_key=GAME_SCORE,
        eval_options={"episodic_life": False, "clip_rewards": False},
        rollout_frame="rllib_iam.envs.atari:rollout_frame",
    )


ATARI = tuple(atari(game, flicker) for game in ("Pong", "Breakout") for flicker in (True, False))

register(WAREHOUSE)
register(WAREHOUSE_TWIN)
register(TRAFFIC)
for _spec in ATARI:
    register(_spec)
