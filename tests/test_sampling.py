"""`LeanEnvRunner` returns what RLlib's stock env runner returns, value for value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

import rllib_iam
from rllib_iam.ppo.sampling import LeanEnvRunner
from rllib_iam.training import ppo_config

pytestmark = pytest.mark.slow  # every test here starts Ray and trains

SKIP = {"id_", "_start_time", "_last_step_time"}


def assert_same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) - SKIP == set(b) - SKIP, where
        for k in set(a) - SKIP:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)) or (isinstance(a, np.ndarray) and a.dtype == object):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def run(runner_cls: type, config: Any, rounds: int) -> tuple[list, dict]:
    runner = runner_cls(config=config)
    if runner_cls is LeanEnvRunner:
        assert runner.lean()  # the lean path is the one compared
    torch.manual_seed(123)
    episodes = [ep.get_state() for _ in range(rounds) for ep in runner.sample()]
    # the lean path tallies env steps for RLlib's Prometheus counter, then puts it back
    assert type(runner._metrics_num_try_env_step).__name__ == "Counter"
    metrics = runner.get_metrics()
    runner.stop()
    return episodes, metrics


@pytest.mark.parametrize(
    "model, model_config",
    [("fnn", None), ("iam", None), ("gru", {"shared_trunk": False}), ("fnn8", None)],
)
def test_lean_runner_returns_the_stock_runners_episodes(model: str, model_config: Any) -> None:
    # 3 x 128 steps of 8 envs cross two 100-step episode ends (NEXT_STEP reset rows included)
    config = ppo_config(model, seed=3, total_timesteps=10_000, model_config=model_config)
    stock, stock_metrics = run(SingleAgentEnvRunner, config, 3)
    lean, lean_metrics = run(LeanEnvRunner, config, 3)
    assert len(stock) == len(lean) > 8 * 3  # finished episodes besides the 8 chunks per round
    assert_same(stock, lean)
    key = "episode_return_mean"
    assert lean_metrics[key] == stock_metrics[key]


@pytest.mark.parametrize("env", ["rllib_iam/FlickeringPong-v0", rllib_iam.TRAFFIC_ID])
def test_lean_runner_equals_stock_on_the_other_envs(env: str) -> None:
    """uint8 image frames (Atari, gymnasium's sync vector env) and Traffic's simulations."""
    model = "iam" if env == rllib_iam.TRAFFIC_ID else "lstm"
    config = ppo_config(
        model, env, seed=5, total_timesteps=10_000, num_envs=2, rollout_fragment_length=16,
        minibatch_size=16,
    )
    stock, _ = run(SingleAgentEnvRunner, config, 2)
    lean, _ = run(LeanEnvRunner, config, 2)
    assert_same(stock, lean)
