"""The model zoo: IAM and every baseline as RLlib RLModules, chosen by name.

    >>> from rllib_iam.models import ZOO, count_params, build_module
    >>> sorted(ZOO)  # doctest: +NORMALIZE_WHITESPACE
    ['fnn', 'fnn32', 'fnn8', 'gru', 'iam', 'iam_attention', 'iam_auto', 'iam_gru',
     'iam_static', 'lstm']
    >>> count_params(build_module("fnn"))
    169729

Training configs use `module_spec(name, ...)` and merge `env_config_for(name)` into the env
config; `python -m rllib_iam.models` prints every model's parameter count.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from torch import nn

from rllib_iam import WAREHOUSE_ID
from rllib_iam.models.base import ZooModule
from rllib_iam.models.fnn import FNNModule
from rllib_iam.models.fnn8 import FNN8Module
from rllib_iam.models.fnn32 import FNN32Module
from rllib_iam.models.gru import GRUModule
from rllib_iam.models.iam import IAMModule
from rllib_iam.models.iam_attention import IAMAttentionModule
from rllib_iam.models.iam_auto import IAMAutoModule
from rllib_iam.models.iam_gru import IAMGRUModule
from rllib_iam.models.iam_static import IAMStaticModule
from rllib_iam.models.lstm import LSTMModule
from rllib_iam.models.sizing import space_sizes
from rllib_iam.plugins import import_named

MODELS: dict[str, type[ZooModule]] = {
    cls.NAME: cls
    for cls in (
        IAMModule,
        IAMGRUModule,
        IAMStaticModule,
        IAMAutoModule,
        IAMAttentionModule,
        LSTMModule,
        GRUModule,
        FNNModule,
        FNN8Module,
        FNN32Module,
    )
}
"""Model name (config, command line, plots) -> RLModule class; `register` adds to it."""

ZOO: tuple[str, ...] = tuple(MODELS)
"""The built-in models' names (`MODELS` also holds the ones a module registered)."""

REFERENCE_PARAMS: dict[str, dict[str, int]] = {
    WAREHOUSE_ID: {
        "iam": 214_145,
        "iam_static": 226_433,
        "lstm": 339_201,
        "fnn": 169_729,
        "fnn8": 538_881,
    },
}
"""The paper's parameter counts (TensorFlow, heads included), per environment."""


def register(cls: type[ZooModule]) -> type[ZooModule]:
    """Adds a `ZooModule` subclass to `MODELS` under its `NAME` (also as a class decorator).

    A model of your own lives in a module of your own that calls this on import; name it
    ``module:NAME`` wherever a model is named (``figure5.py --models iam,my_models:gru_k``,
    `ppo_config`, `module_spec`): the module is imported first, in the driver and in every
    process that meets the name, as ``module:id`` envs are (README: Bring your own model).
    Registering another class under a name already taken is a ValueError."""
    if not (isinstance(cls, type) and issubclass(cls, ZooModule)):
        raise ValueError(f"register takes a ZooModule subclass, got {cls!r}")
    name = getattr(cls, "NAME", None)
    if not isinstance(name, str) or not name or ":" in name or name.strip() != name:
        raise ValueError(f"{cls.__name__}.NAME must be a plain name without ':', got {name!r}")
    if MODELS.get(name, cls) is not cls:
        raise ValueError(f"model name {name!r} is taken by {MODELS[name].__qualname__}")
    MODELS[name] = cls
    return cls


def model_name(name: str) -> str:
    """A model's registered name: ``gru_k`` for ``my_models:gru_k``, a zoo name as it is."""
    return name.rpartition(":")[2]


def model_class(name: str) -> type[ZooModule]:
    """The class registered under `name`, which may be ``module:NAME`` (`module` is imported
    first: its import registers the model); a one-line ValueError otherwise, listing the valid
    names."""
    short = import_named(name, "model")
    if short not in MODELS:
        module = name.rpartition(":")[0]
        where = f" (importing {module} registered none of that name)" if module else ""
        raise ValueError(f"unknown model {name!r}{where}; valid: {', '.join(MODELS)}, or "
                         "module:NAME for one a module registers")
    return MODELS[short]


def env_config_for(name: str, env_id: str = WAREHOUSE_ID) -> dict[str, Any]:
    """Env options the model needs on `env_id` (e.g. frame stacking for `fnn8`); merge into
    env_config."""
    return model_class(name).env_config(env_id)


@functools.cache
def _env_spaces(env_id: str, env_options: tuple) -> tuple[gym.Space, gym.Space]:
    env = gym.make(env_id, **dict(env_options))
    spaces = env.observation_space, env.action_space
    env.close()
    return spaces


def module_spec(name: str, env_id: str = WAREHOUSE_ID, **model_config: Any) -> RLModuleSpec:
    """The RLModuleSpec for `config.rl_module(rl_module_spec=...)`, with its config resolved.

    Spaces come from the env with the model's `ENV_CONFIG`; the config is checked here, so a
    bad key fails in the driver rather than inside a Learner.
    """
    cls = model_class(name)
    env_options = tuple(sorted(cls.env_config(env_id).items()))
    observation_space, action_space = _env_spaces(env_id, env_options)
    config = cls.resolve_config({**model_config, "env_id": env_id}, observation_space, action_space)
    return RLModuleSpec(
        module_class=cls,
        observation_space=observation_space,
        action_space=action_space,
        model_config=config,
    )


def build_module(name: str, env_id: str = WAREHOUSE_ID, **model_config: Any) -> ZooModule:
    """A ready module for notebooks and tests."""
    return module_spec(name, env_id, **model_config).build()


def count_params(module: nn.Module) -> int:
    """All parameters, both trunks and both heads included."""
    return sum(p.numel() for p in module.parameters())


def param_table(env_id: str = WAREHOUSE_ID, param_budget: int | None = None) -> str:
    """A Markdown table of every model's parameter count (at `param_budget` if given)."""
    reference = REFERENCE_PARAMS.get(env_id, {})
    rows = ["| model | parameters | reference | vs reference | widths |", "|---|---|---|---|---|"]
    for name, cls in MODELS.items():
        if cls.sizes_for(env_id) is None:
            continue
        extra = {} if param_budget is None else {"param_budget": param_budget}
        spec = module_spec(name, env_id, **extra)
        config = spec.model_config
        n = cls.count_for(config, *space_sizes(spec.observation_space, spec.action_space))
        ref = reference.get(name) if param_budget is None else None
        diff = f"{(n - ref) / ref:+.2%}" if ref else ""
        widths = ", ".join(f"{k}={config[k]}" for k in cls.WIDTHS)
        rows.append(f"| `{name}` | {n:,} | {f'{ref:,}' if ref else '—'} | {diff} | {widths} |")
    return "\n".join(rows)


__all__ = [
    "MODELS",
    "REFERENCE_PARAMS",
    "ZOO",
    "ZooModule",
    "build_module",
    "count_params",
    "env_config_for",
    "model_class",
    "model_name",
    "module_spec",
    "param_table",
    "register",
]
