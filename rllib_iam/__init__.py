"""rllib-iam: influence-aware memory (Suau et al.) and its baselines on Ray RLlib.

Importing the package registers the environments of `rllib_iam.envs.registry` with gymnasium:
``rllib_iam/Warehouse-v0``, ``rllib_iam/Traffic-v0`` and the Atari games
(``gymnasium.make`` gives one env; ``gymnasium.make_vec(...,
vectorization_mode="vector_entry_point")`` and RLlib's
``gym_env_vectorize_mode="vector_entry_point"`` give the native vector env).
"""

from rllib_iam.envs.registry import ATARI, TRAFFIC, WAREHOUSE, env_ids

WAREHOUSE_ID = WAREHOUSE.id
TRAFFIC_ID = TRAFFIC.id
"""SUMO through libsumo (`rllib_iam.envs.traffic`); its simulations start at the first reset."""

ATARI_IDS: dict[str, dict] = {spec.id: spec.kwargs for spec in ATARI}
"""Atari ids (DeepMind preprocessing, `rllib_iam.envs.atari`) -> their registered kwargs."""

__all__ = ["ATARI_IDS", "TRAFFIC_ID", "WAREHOUSE_ID", "env_ids"]
