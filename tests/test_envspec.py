"""One record per environment: the registry, what reads it, and a fourth env added by one file
(tests/echo_env.py) and one `register` call, trained through experiments/figure5.py."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pandas as pd
import pytest

import rllib_iam
from analysis.stats import env_label
from rllib_iam.envs.registry import (
    ATARI,
    SPECS,
    TRAFFIC,
    WAREHOUSE,
    WAREHOUSE_TWIN,
    register,
    spec_for,
)
from rllib_iam.grid import FIGURE5, PROFILES, default_models_for, profiles_for
from rllib_iam.models import build_module
from rllib_iam.training import PAPER_PPO, PAPER_PPO_BY_ENV, paper_ppo_for, ppo_settings

ROOT = Path(__file__).resolve().parent.parent
ECHO = "echo_env:toy/Echo-v0"
"""The toy env as a user names it: gymnasium's ``module:id``, the module registering the id."""


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          check=True)


def test_a_warehouse_run_imports_neither_atari_nor_the_heuristics():
    """The specs name heavy modules by string: importing the training config and the grid
    leaves ale_py unloaded, and the analysis finds the heuristics table without importing the
    heuristics (and with them the Warehouse)."""
    loaded = python("import sys, rllib_iam.training, rllib_iam.grid; print(*sys.modules)")
    modules = set(loaded.stdout.split())
    assert "rllib_iam.training" in modules and "rllib_iam.grid" in modules
    assert "ale_py" not in modules and "rllib_iam.envs.atari" not in modules
    loaded = python("import sys, analysis.figure5; print(*sys.modules)")
    modules = set(loaded.stdout.split())
    assert "rllib_iam.heuristics" not in modules and "rllib_iam.envs.warehouse" not in modules


def test_every_spec_is_registered_with_gymnasium_and_the_old_names_derive_from_it():
    assert list(SPECS) == [WAREHOUSE.id, WAREHOUSE_TWIN.id, TRAFFIC.id, *(s.id for s in ATARI)]
    for spec in SPECS.values():
        registered = gym.registry[spec.id]
        assert (registered.entry_point, registered.vector_entry_point, registered.kwargs) == (
            spec.entry_point, spec.vector_entry_point, spec.kwargs)
    assert rllib_iam.env_ids() == sorted(SPECS)
    assert WAREHOUSE.id == rllib_iam.WAREHOUSE_ID and TRAFFIC.id == rllib_iam.TRAFFIC_ID
    assert rllib_iam.ATARI_IDS["rllib_iam/FlickeringPong-v0"] == {"game": "Pong", "flicker": 0.5}
    assert PAPER_PPO_BY_ENV[WAREHOUSE.id] == PAPER_PPO
    assert PAPER_PPO_BY_ENV[TRAFFIC.id].gae_horizon == 128
    assert PROFILES is WAREHOUSE.profiles and profiles_for(ATARI[0].id)["smoke"].timesteps == 1024
    assert [env_label(s.id) for s in (WAREHOUSE, ATARI[0])] == ["Warehouse", "FlickeringPong"]


def test_an_env_is_looked_up_by_id_or_module_and_id_with_one_line_errors():
    assert spec_for(WAREHOUSE.id) is spec_for(f"rllib_iam:{WAREHOUSE.id}") is WAREHOUSE
    with pytest.raises(ValueError, match=r"^unknown env 'CartPole-v1'; valid: rllib_iam/"):
        spec_for("CartPole-v1")
    with pytest.raises(ValueError, match=r"^unknown env 'no_such_module:a/B-v0': cannot import"):
        spec_for("no_such_module:a/B-v0")
    with pytest.raises(ValueError, match="already registered with another spec"):
        register(dataclasses.replace(TRAFFIC, label="Other"))
    assert register(TRAFFIC) is TRAFFIC  # the same spec again: nothing changes


@pytest.fixture
def echo():
    """The toy env, registered by importing its module, and forgotten again afterwards."""
    import echo_env

    yield echo_env.ECHO
    SPECS.pop(echo_env.ECHO.id)
    gym.registry.pop(echo_env.ECHO.id)
    sys.modules.pop("echo_env")


def test_the_toy_env_spec_reaches_ppo_grid_models_and_analysis(echo):
    assert spec_for(ECHO) is echo and echo.id in rllib_iam.env_ids()
    settings = paper_ppo_for(ECHO)
    assert (settings.num_envs, settings.rollout_fragment_length, settings.minibatch_size) == (
        4, 32, 64)
    assert settings.gae_horizon == PAPER_PPO.gae_horizon  # the rest: the paper's
    assert profiles_for(ECHO)["smoke"].timesteps == 128
    assert profiles_for(ECHO)["paper"] == PROFILES["paper"]  # a profile it lacks: Warehouse's
    assert default_models_for(ECHO) == ("fnn",)
    assert build_module("fnn", ECHO).model_config["fnn_hiddens"] == [16]  # spec's model_sizes
    with pytest.raises(ValueError, match="no default sizes for env 'echo_env:toy/Echo-v0'"):
        build_module("lstm", ECHO)
    with pytest.raises(ValueError, match="no tuned PPO for echo_env:toy/Echo-v0"):
        ppo_settings(ECHO, "tuned")
    assert env_label(ECHO) == "Echo"
    envs = gym.make_vec(ECHO, num_envs=3, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    for _ in range(8):
        _, _, _, truncated, info = envs.step(envs.action_space.sample())
    assert truncated.all() and 0 <= info["echo_score"].min() <= info["echo_score"].max() <= 8


@pytest.mark.slow
def test_the_toy_env_trains_for_one_iteration_through_figure5(tmp_path):
    """The smoke profile of its spec (128 transitions: one update of 4 envs x 32 steps) through
    the real command; the trial process and its env runner import the module themselves."""
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "experiments/figure5.py", "--env", ECHO, "--profile", "smoke",
         "--models", "fnn", "--seeds", "1", "--storage-path", str(tmp_path), "--name", "echo"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path},
    )
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    trial = tmp_path / "echo" / "fnn_seed0"
    assert json.loads((trial / "params.json").read_text())["env"] == ECHO
    (line,) = (trial / "result.json").read_text().splitlines()
    result = json.loads(line)
    record = result[FIGURE5]
    assert result["training_iteration"] == 1 and record["transitions"] == 128
    assert record["reference_steps"] == 128 / 4
    # the spec's score key is the grid's return: the score, not RLlib's return of +-1 rewards
    assert record["episode_return_mean"] == result["env_runners"]["echo_score"]
    assert 0 <= record["episode_return_mean"] <= 8
    table = pd.read_csv(tmp_path / "echo" / "figure5" / "table.csv")
    assert table[["env", "model"]].values.tolist() == [["Echo", "fnn"]]


def test_the_twin_is_warehouse_with_its_ages_observed_and_warehouse_sizes():
    """`rllib_iam/WarehouseTwin-v0`: the same spec but its id, label, the option and nothing
    published; zoo models take their Warehouse sizes there (`EnvSpec.sizes_like`)."""
    assert WAREHOUSE_TWIN.kwargs == {"observe_ages": True}
    assert WAREHOUSE_TWIN.tuned_ppo == WAREHOUSE.tuned_ppo
    assert WAREHOUSE_TWIN.paper_final == {} and WAREHOUSE_TWIN.profiles is WAREHOUSE.profiles
    module = build_module("fnn", WAREHOUSE_TWIN.id)
    assert module.observation_space.shape == (97,)
    assert module.model_config["fnn_hiddens"] == build_module("fnn").model_config["fnn_hiddens"]
