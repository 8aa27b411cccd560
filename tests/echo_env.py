"""Echo, a toy fourth environment: what adding an env takes, in one file and one `register` call.

Each step shows a random bit, one-hot (``[1, 0]`` or ``[0, 1]``); action 0 or 1 repeats it for
+1, the other for -1. Episodes last 8 steps; at the last one ``info["echo_score"]`` is the
number of bits repeated (0-8), which the spec makes the return that grids report. The module
is importable as ``echo_env`` with tests/ on the path, and run as
``experiments/figure5.py --env echo_env:toy/Echo-v0`` (tests/test_envspec.py).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from rllib_iam.envs import EnvSpec, Profile, register
from rllib_iam.envs.common import SingleEnv, check_actions, check_num_envs, check_options

EPISODE_LENGTH = 8
OPTIONS = ("time_limit_as_terminal",)
SCORE = "echo_score"


class EchoVectorEnv(gym.vector.VectorEnv):
    """N Echo envs stepped at once; autoreset ``NEXT_STEP``, as RLlib's env runner expects."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **options: Any) -> None:
        check_options("Echo", options, OPTIONS)
        self.num_envs = check_num_envs(num_envs)
        self.render_mode = None
        self.time_limit_as_terminal = bool(options.get("time_limit_as_terminal", False))
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._bit = np.zeros(self.num_envs, dtype=np.int64)
        self._t = np.zeros(self.num_envs, dtype=np.int64)
        self._score = np.zeros(self.num_envs)
        self._done = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t[:], self._score[:], self._done[:] = 0, 0.0, False
        self._bit = self.np_random.integers(0, 2, self.num_envs)
        return self._observe(), {}

    def step(self, actions: Any):
        actions = check_actions(actions, self.num_envs, 2, "0 or 1: the bit shown")
        live = ~self._done
        right = actions == self._bit
        reward = np.where(live, np.where(right, 1.0, -1.0), 0.0)
        self._score = np.where(live, self._score + right, 0.0)
        self._t = np.where(live, self._t + 1, 0)
        ended = live & (self._t == EPISODE_LENGTH)
        info = {SCORE: np.where(ended, self._score, 0.0), f"_{SCORE}": ended} if ended.any() \
            else {}
        terminated = ended if self.time_limit_as_terminal else np.zeros_like(ended)
        truncated = np.zeros_like(ended) if self.time_limit_as_terminal else ended
        self._done = ended
        self._bit = self.np_random.integers(0, 2, self.num_envs)
        return self._observe(), reward, terminated, truncated, info

    def _observe(self) -> np.ndarray:
        return np.eye(2, dtype=np.float32)[self._bit]


class EchoEnv(SingleEnv):
    """One Echo env for ``gymnasium.make``."""

    VECTOR = EchoVectorEnv
    metadata = {"render_modes": []}


ECHO = register(EnvSpec(
    id="toy/Echo-v0",
    label="Echo",
    entry_point="echo_env:EchoEnv",
    vector_entry_point="echo_env:EchoVectorEnv",
    ppo={"num_envs": 4, "rollout_fragment_length": 32, "minibatch_size": 64},
    profiles={"smoke": Profile(seeds=1, timesteps=128, checkpoint_every=1)},
    default_models=("fnn",),
    model_sizes={"fnn": {"fnn_hiddens": [16]}},
    score_key=SCORE,
))
