"""rllib-iam: influence-aware memory (Suau et al.) and its baselines on Ray RLlib.

Importing the package registers the environments with gymnasium:
``rllib_iam/Warehouse-v0`` and ``rllib_iam/Traffic-v0`` (``gymnasium.make`` gives one env;
``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` and RLlib's
``gym_env_vectorize_mode="vector_entry_point"`` give the native vector env).
"""

import gymnasium as gym

WAREHOUSE_ID = "rllib_iam/Warehouse-v0"

if WAREHOUSE_ID not in gym.registry:
    gym.register(
        WAREHOUSE_ID,
        entry_point="rllib_iam.envs.warehouse:WarehouseEnv",
        vector_entry_point="rllib_iam.envs.warehouse:WarehouseVectorEnv",
        max_episode_steps=None,
        disable_env_checker=True,
    )

TRAFFIC_ID = "rllib_iam/Traffic-v0"
"""SUMO through libsumo (`rllib_iam.envs.traffic`); its simulations start at the first reset."""

if TRAFFIC_ID not in gym.registry:
    gym.register(
        TRAFFIC_ID,
        entry_point="rllib_iam.envs.traffic:TrafficEnv",
        vector_entry_point="rllib_iam.envs.traffic:TrafficVectorEnv",
        max_episode_steps=None,
        disable_env_checker=True,
    )

ATARI_IDS: dict[str, dict] = {
    f"rllib_iam/{flicker}{game}-v0": {"game": game, "flicker": 0.5 if flicker else 0.0}
    for game in ("Pong", "Breakout")
    for flicker in ("Flickering", "")
}
"""Atari ids (DeepMind preprocessing, `rllib_iam.envs.atari`) -> their registered kwargs."""

for _id, _kwargs in ATARI_IDS.items():
    if _id not in gym.registry:
        gym.register(
            _id,
            entry_point="rllib_iam.envs.atari:make_atari",
            vector_entry_point="rllib_iam.envs.atari:make_atari_vector",
            kwargs=_kwargs,
            disable_env_checker=True,
        )


def env_ids() -> list[str]:
    """The gymnasium ids this package registers (``rllib_iam/...``), sorted."""
    return sorted(i for i in gym.registry if i.startswith("rllib_iam/"))


__all__ = ["ATARI_IDS", "TRAFFIC_ID", "WAREHOUSE_ID", "env_ids"]
