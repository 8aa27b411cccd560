"""A zoo model's config and size: per-environment defaults, checks, and the parameter budget.

`ModelSizing` is the config half of `rllib_iam.models.base.ZooModule`, as class methods over the
class attributes a model sets (`NAME`, `DEFAULTS`, `WIDTHS`, `ENV_CONFIG`, `ENV_CONFIG_BY_ENV`)
and its `make_trunk`: `resolve_config` merges the defaults for the config's environment with the
user's keys, refuses unknown ones and solves `param_budget` by scaling the widths in `WIDTHS`
(`_fit_budget`), counting parameters on torch's meta device (`count_for`); `space_sizes` reads
the observation and action spaces the zoo supports.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rllib_iam import WAREHOUSE_ID
from rllib_iam.envs.registry import find
from rllib_iam.models.train_mode import FLAT_TRAIN

COMMON_DEFAULTS: dict[str, Any] = {
    "env_id": WAREHOUSE_ID,
    "shared_trunk": True,
    "param_budget": None,
    "max_seq_len": 8,
    FLAT_TRAIN: True,
}
"""Keys every model accepts. `max_seq_len` is read by RLlib's connectors (BPTT length);
`flat_train_mode` False keeps torch's recursive `train` (`rllib_iam.models.train_mode`)."""

IGNORED_KEYS = ("vf_share_layers",)
"""Keys RLlib's PPOConfig/APPOConfig merge into every model_config; `shared_trunk` decides here."""

BUDGET_TOLERANCE = 0.02


class ModelSizing:
    """Config resolution and parameter counts for a zoo model, all class methods.

    Mixed into `ZooModule`, whose docstring says what a model sets; the methods build trunks
    through the model's `make_trunk`.
    """

    NAME: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, dict[str, Any]]]
    WIDTHS: ClassVar[tuple[str, ...]]
    ENV_CONFIG: ClassVar[dict[str, Any]] = {}
    ENV_CONFIG_BY_ENV: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def env_config(cls, env_id: str) -> dict[str, Any]:
        """Env options this model needs on `env_id` (e.g. frame stacking)."""
        spec = find(env_id)
        return {**cls.ENV_CONFIG, **cls.ENV_CONFIG_BY_ENV.get(spec.id if spec else env_id, {})}

    @classmethod
    def sizes_for(cls, env_id: str) -> dict[str, Any] | None:
        """This model's default sizes on `env_id`: its `DEFAULTS`, else the env spec's
        `model_sizes`; None where neither has any."""
        spec = find(env_id)
        if spec is None:
            return cls.DEFAULTS.get(env_id)
        if spec.id in cls.DEFAULTS:
            return cls.DEFAULTS[spec.id]
        if spec.sizes_like in cls.DEFAULTS:  # a variant of an env the model knows
            return cls.DEFAULTS[spec.sizes_like]
        return spec.model_sizes.get(cls.NAME)

    @classmethod
    def resolve_config(
        cls,
        model_config: dict[str, Any] | None,
        observation_space: gym.Space,
        action_space: gym.Space,
    ) -> dict[str, Any]:
        """Defaults for the config's environment, user keys over them, budget solved."""
        config = {k: v for k, v in dict(model_config or {}).items() if k not in IGNORED_KEYS}
        env_id = config.get("env_id", COMMON_DEFAULTS["env_id"])
        sizes = cls.sizes_for(env_id)
        if sizes is None:
            raise ValueError(
                f"model {cls.NAME!r} has no default sizes for env {env_id!r}; "
                f"known: {', '.join(cls.DEFAULTS)}"
            )
        defaults = {**COMMON_DEFAULTS, **sizes}
        unknown = sorted(set(config) - set(defaults))
        if unknown:
            raise ValueError(
                f"unknown model_config key(s) {', '.join(unknown)} for model {cls.NAME!r}; "
                f"valid: {', '.join(sorted(defaults))}"
            )
        config = {**defaults, **config}
        _check_common(config)
        for key in cls.WIDTHS:
            config[key] = check_width(key, config[key])
        obs_size, n_actions = space_sizes(observation_space, action_space)
        if config["param_budget"] is not None:
            return cls._fit_budget(config, obs_size, n_actions)
        cls.count_for(config, obs_size, n_actions)  # a dry build: a bad d-set fails here, early
        return config

    @classmethod
    def count_for(
        cls, config: dict[str, Any], obs_size: int | tuple[int, int, int], n_actions: int
    ) -> int:
        """Parameter count of the module a resolved config builds, without allocating it."""
        with torch.device("meta"):
            trunk = cls.make_trunk(obs_size, config)
        copies = 1 if config["shared_trunk"] else 2
        trunk_params = sum(p.numel() for p in trunk.parameters())
        return copies * trunk_params + trunk.out_size * (n_actions + 1) + 1

    @classmethod
    def _fit_budget(cls, config: dict[str, Any], obs_size: Any, n_actions: int) -> dict[str, Any]:
        """Scale every width in `WIDTHS` by one factor until the count is near the budget."""
        target = config["param_budget"]

        def scaled(factor: float) -> dict[str, Any]:
            return {**config, **{k: _scale(config[k], factor) for k in cls.WIDTHS}}

        def miss(cfg: dict[str, Any]) -> float:
            return abs(cls.count_for(cfg, obs_size, n_actions) - target) / target

        if miss(config) <= BUDGET_TOLERANCE:
            return config
        lo, hi = 1e-3, 1e3
        for _ in range(50):
            mid = math.sqrt(lo * hi)
            if cls.count_for(scaled(mid), obs_size, n_actions) < target:
                lo = mid
            else:
                hi = mid
        best = min((scaled(lo), scaled(hi)), key=miss)
        if miss(best) > BUDGET_TOLERANCE:
            got = cls.count_for(best, obs_size, n_actions)
            raise ValueError(
                f"param_budget {target} cannot be met within 2% by model {cls.NAME!r} "
                f"(closest: {got} parameters)"
            )
        return best


def space_sizes(
    observation_space: gym.Space, action_space: gym.Space
) -> tuple[int | tuple[int, int, int], int]:
    """The observation's size (an int; ``(k, 84, 84)`` for images) and the number of actions."""
    shape = getattr(observation_space, "shape", None)
    image = shape is not None and len(shape) == 3 and tuple(shape[1:]) == (84, 84)
    if not isinstance(observation_space, gym.spaces.Box) or not (len(shape) == 1 or image):
        raise ValueError(
            "the model zoo needs a 1-D Box or (k, 84, 84) image observation, "
            f"got {observation_space}"
        )
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"the model zoo needs a Discrete action space, got {action_space}")
    size = tuple(int(n) for n in shape) if image else int(shape[0])
    return size, int(action_space.n)


def _check_common(config: dict[str, Any]) -> None:
    if not isinstance(config["shared_trunk"], bool):
        raise ValueError(f"shared_trunk must be True or False, got {config['shared_trunk']!r}")
    if not isinstance(config[FLAT_TRAIN], bool):
        raise ValueError(f"{FLAT_TRAIN} must be True or False, got {config[FLAT_TRAIN]!r}")
    if not _positive_int(config["max_seq_len"]):
        raise ValueError(f"max_seq_len must be an integer >= 1, got {config['max_seq_len']!r}")
    budget = config["param_budget"]
    if budget is not None and not _positive_int(budget):
        raise ValueError(f"param_budget must be None or an integer >= 1, got {budget!r}")


def check_width(key: str, value: Any) -> int | list[int]:
    """A width config value as an int or a list of ints, or a ValueError naming the key."""
    if _positive_int(value):
        return int(value)
    if isinstance(value, (list, tuple)) and value and all(_positive_int(v) for v in value):
        return [int(v) for v in value]
    raise ValueError(f"{key} must be a positive integer or a non-empty list of them, got {value!r}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _scale(width: int | list[int], factor: float) -> int | list[int]:
    if isinstance(width, list):
        return [max(1, round(w * factor)) for w in width]
    return max(1, round(width * factor))
