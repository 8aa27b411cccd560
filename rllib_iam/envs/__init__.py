"""Environments of the IAM paper, one `EnvSpec` each (`rllib_iam.envs.registry`), registered
with gymnasium when ``rllib_iam`` is imported.

The Warehouse's names below are imported on first use, so that reading the registry (a Traffic
or Atari run, the analysis) does not import the Warehouse.
"""

from __future__ import annotations

import importlib
from typing import Any

from rllib_iam.envs.registry import register, spec_for
from rllib_iam.envs.spec import EnvSpec, Profile

_WAREHOUSE_NAMES = ("D_SETS", "WarehouseEnv", "WarehouseVectorEnv", "resolve_d_set")


def __getattr__(name: str) -> Any:
    if name in _WAREHOUSE_NAMES:
        return getattr(importlib.import_module("rllib_iam.envs.warehouse"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["D_SETS", "EnvSpec", "Profile", "WarehouseEnv", "WarehouseVectorEnv", "register",
           "resolve_d_set", "spec_for"]
