"""Environments of the IAM paper, registered with gymnasium when ``rllib_iam`` is imported."""

from rllib_iam.envs.warehouse import D_SETS, WarehouseEnv, WarehouseVectorEnv, resolve_d_set

__all__ = ["D_SETS", "WarehouseEnv", "WarehouseVectorEnv", "resolve_d_set"]
