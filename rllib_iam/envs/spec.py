"""`EnvSpec`: one record per environment, everything the library knows about it in one place.

The record names heavy modules (the env itself, its d-set resolver, its rollout drawing) by
``"module:attribute"`` strings that `load` imports on use, so reading a spec (a Warehouse grid,
the analysis) never imports Atari's emulator or SUMO. `rllib_iam.envs.registry` holds the
records and registers them with gymnasium.
"""

from __future__ import annotations

import csv
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout (the package is installed editable): `EnvSpec.heuristics_table` is read here."""


@dataclass(frozen=True)
class Profile:
    """A budget of the grid."""

    seeds: int
    """number of seeds per model"""
    timesteps: int
    """env transitions per trial"""
    checkpoint_every: int
    """training iterations between checkpoints (one more at the end)"""


@dataclass(frozen=True)
class EnvSpec:
    """One environment: its gymnasium registration and what training, grids, rollouts and the
    analysis need to know about it. Only `id`, `label` and the two entry points are required."""

    id: str
    """gymnasium id, e.g. ``rllib_iam/Warehouse-v0``"""
    label: str
    """short display name: figure panels, table rows and verdicts of the analysis"""
    entry_point: str
    """``module:callable`` building one env (``gymnasium.make``)"""
    vector_entry_point: str
    """``module:callable`` building the native vector env (``gymnasium.make_vec(...,
    vectorization_mode="vector_entry_point")``, which RLlib's env runners use)"""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments registered with gymnasium for both entry points"""
    ppo: dict[str, Any] = field(default_factory=dict)
    """the paper's PPO here: `rllib_iam.training.PaperPPO` fields that differ from its defaults
    (Warehouse's)"""
    tuned_ppo: dict[str, Any] | None = None
    """the ``tuned`` PPO variant: `PaperPPO` fields a Ray Tune search changed from `ppo`; None
    where no search ran"""
    profiles: dict[str, Profile] = field(default_factory=dict)
    """grid budgets by profile name (`rllib_iam.grid`); a name missing here is Warehouse's"""
    default_models: tuple[str, ...] | None = None
    """models a grid runs unless told otherwise; None: Warehouse's"""
    model_sizes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """model name -> its default model_config here, for zoo models without sizes of their own
    for this env (a model's `DEFAULTS` win)"""
    sizes_like: str | None = None
    """the env id whose model sizes zoo models use here (a variant of that env, such as
    Warehouse's fully observable twin), before `model_sizes`; None: this env's own"""
    d_set_resolver: str | None = None
    """``module:function`` turning a `d_set` value (a name of the env's d-sets or an index
    list) and the observation size into observation indices; None: index lists only"""
    score_key: str | None = None
    """info key carrying the score at an episode's end, reported instead of RLlib's episode
    return (Atari: the unclipped game score); None: the episode return is the score"""
    heuristics: str | None = None
    """module holding the env's fixed reference policies (experiments/heuristics.py)"""
    heuristics_table: str | None = None
    """their committed returns, a CSV relative to the project root that the analysis draws as
    reference lines; None: no lines"""
    eval_options: dict[str, Any] = field(default_factory=dict)
    """env options under which a trained policy is watched (`rllib_iam.rollout`), e.g. Atari's
    whole games with unclipped rewards"""
    rollout_frame: str | None = None
    """``module:function`` drawing a rollout frame from (rendered screen, observation,
    attention weights or None) as a PIL image; None: the env's own render"""
    paper_final: dict[str, float] = field(default_factory=dict)
    """model -> final return read off the paper's Figure 5 (docs/spec/paper.md)"""
    reproduction_final: dict[str, float] = field(default_factory=dict)
    """model -> final return of the second public reproduction"""
    blog_finding: dict[str, str] = field(default_factory=dict)
    """model -> the seed reproduction's (a blog's) ranking in words"""

    def resolve_d_set(self, d_set: str | Sequence[int], obs_size: int) -> list[int]:
        """`d_set` as checked observation indices (`d_set_resolver`, or index lists only)."""
        if self.d_set_resolver is not None:
            return load(self.d_set_resolver)(d_set, obs_size)
        from rllib_iam.envs.common import resolve_d_set

        return resolve_d_set(d_set, obs_size, named={}, what=f"{self.label} d-set")

    def heuristic_returns(self) -> dict[str, float]:
        """The reference policies' committed returns with the paper's quirks (policy -> mean),
        from `heuristics_table`; empty where there is none or it cannot be read."""
        if self.heuristics_table is None:
            return {}
        try:
            reference = load_reference(PROJECT_ROOT / self.heuristics_table)
        except (OSError, KeyError, ValueError):
            return {}
        return {policy: mean for (policy, quirks), mean in reference.items() if quirks}


def load(ref: str) -> Any:
    """The object a ``"module:attribute"`` string names, importing the module."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_reference(path: Path) -> dict[tuple[str, bool], float]:
    """A committed heuristics table (experiments/heuristics.py): ``{(policy, quirks): mean
    return}``."""
    with open(path, newline="") as f:
        return {
            (row["policy"], row["quirks"] == "True"): float(row["mean_return"])
            for row in csv.DictReader(f)
        }
