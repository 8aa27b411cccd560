"""The model zoo: sizes, forward passes, recurrent state, influence restriction, RLlib PPO."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import ray
import torch
import tree
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

import rllib_iam  # noqa: F401  (registers rllib_iam/Warehouse-v0 with gymnasium)
from rllib_iam.envs.warehouse import resolve_d_set
from rllib_iam.models import (
    MODELS,
    REFERENCE_PARAMS,
    ZOO,
    build_module,
    count_params,
    env_config_for,
    model_class,
    module_spec,
    param_table,
)

WAREHOUSE = "rllib_iam/Warehouse-v0"
RECURRENT = ["iam", "iam_gru", "iam_static", "iam_auto", "lstm", "gru"]
FEEDFORWARD = ["fnn", "fnn8"]
IMAGE_ONLY = ["iam_attention"]  # tests/test_atari.py
TRAFFIC_ONLY = ["fnn32"]  # tests/test_traffic.py
WAREHOUSE_MODELS = [m for m in ZOO if WAREHOUSE in MODELS[m].DEFAULTS]
ADI = Columns.ACTION_DIST_INPUTS


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def initial_state(module, batch_size: int, scale: float = 0.0) -> dict:
    """The module's initial state repeated over a batch (random if `scale`, to test STATE_IN)."""
    return tree.map_structure(
        lambda s: torch.from_numpy(s).repeat(batch_size, 1)
        + scale * torch.randn(batch_size, *s.shape),
        module.get_initial_state(),
    )


def close(a, b, atol: float = 1e-5) -> bool:
    return all(tree.flatten(tree.map_structure(lambda x, y: torch.allclose(x, y, atol=atol), a, b)))


# ----------------------------------------------------------------- registry and config
def test_registry_names() -> None:
    # the built-in ones (a test may have registered a plug-in in MODELS by now)
    assert sorted(ZOO) == sorted(RECURRENT + FEEDFORWARD + IMAGE_ONLY + TRAFFIC_ONLY)
    assert set(ZOO) <= set(MODELS)
    with pytest.raises(ValueError, match=r"valid: iam, iam_gru"):
        build_module("transformer")


def test_unknown_key_refused_naming_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"lstm_size.*valid: .*memory_size"):
        build_module("lstm", lstm_size=64)
    with pytest.raises(ValueError, match=r"d_set.*valid"):
        build_module("iam_static", d_set="items")


@pytest.mark.parametrize(
    "key, value",
    [("memory_size", 0), ("fnn_hiddens", []), ("shared_trunk", "yes"), ("max_seq_len", 0)],
)
def test_bad_values_refused(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        build_module("iam", **{key: value})


def test_d_set_by_name_or_indices() -> None:
    assert build_module("iam", d_set="items").trunk.d_map.indices.tolist() == list(range(49, 73))
    assert build_module("iam", d_set=[3, 5]).trunk.memory_branch.rnn.input_size == 2
    with pytest.raises(ValueError, match="valid names: reference, items"):
        build_module("iam", d_set="robot")
    with pytest.raises(ValueError, match="73"):
        build_module("iam", d_set=[0, 73])


def test_rllib_injected_key_is_tolerated() -> None:
    spec = module_spec("iam")
    spec.model_config = {**spec.model_config, "vf_share_layers": False}  # as PPOConfig merges it
    assert "vf_share_layers" not in spec.build().model_config


def test_env_config_and_spaces() -> None:
    assert env_config_for("fnn8") == {"frame_stack": 8}
    assert all(env_config_for(n) == {} for n in ZOO if n not in ("fnn8", "fnn32"))
    assert module_spec("fnn8").observation_space.shape == (584,)
    assert module_spec("iam").observation_space.shape == (73,)
    assert module_spec("iam").model_config["max_seq_len"] == 8


# ------------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("name", WAREHOUSE_MODELS)
def test_param_count(name: str) -> None:
    module = build_module(name)
    n = count_params(module)
    obs_size = module.observation_space.shape[0]
    assert n == model_class(name).count_for(module.model_config, obs_size, 4)
    reference = REFERENCE_PARAMS[WAREHOUSE].get(name)
    if reference is not None:
        assert abs(n - reference) / reference <= 0.02


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "unshared"])
@pytest.mark.parametrize("name", ["lstm", "gru", "fnn"])
def test_param_budget_matches_iam(name: str, shared: bool) -> None:
    target = count_params(build_module("iam"))
    module = build_module(name, param_budget=target, shared_trunk=shared)
    assert abs(count_params(module) - target) / target <= 0.02
    assert model_class(name).count_for(module.model_config, 73, 4) == count_params(module)


def test_param_budget_out_of_reach_refused() -> None:
    with pytest.raises(ValueError, match="cannot be met"):
        build_module("fnn", param_budget=100)


def test_unshared_trunk_doubles_the_trunk() -> None:
    shared, unshared = build_module("iam"), build_module("iam", shared_trunk=False)
    heads = count_params(shared.policy_head) + count_params(shared.value_head)
    assert count_params(unshared) - heads == 2 * (count_params(shared) - heads)
    assert set(unshared.get_initial_state()) == {"actor", "critic"}


def test_param_table_lists_every_model() -> None:
    table = param_table()
    assert all(f"`{name}`" in table for name in WAREHOUSE_MODELS)


# ---------------------------------------------------------------------- forward passes
@pytest.mark.parametrize(
    "name, shared", [(n, True) for n in WAREHOUSE_MODELS] + [("lstm", False), ("fnn", False)]
)
def test_forward_passes_on_bt_batches(name: str, shared: bool) -> None:
    module = build_module(name, shared_trunk=shared)
    assert module.is_stateful() == (name in RECURRENT)
    check_forward_passes(module, torch.rand(4, 3, module.observation_space.shape[0]))


def check_forward_passes(module, obs: torch.Tensor) -> None:
    """Every forward on a (B, T, ...) batch: logits (B, T, A), the state's structure kept,
    values (B, T) equal from scratch and from `forward_train`'s embeddings; and a (B, ...)
    batch gives (B, A)."""
    B, T = obs.shape[:2]
    n_actions = module.action_space.n
    batch = {Columns.OBS: obs}
    if module.is_stateful():
        batch[Columns.STATE_IN] = initial_state(module, B)
    for forward in (module.forward_inference, module.forward_exploration, module.forward_train):
        out = forward(batch)
        assert out[ADI].shape == (B, T, n_actions)
        if module.is_stateful():
            tree.assert_same_structure(out[Columns.STATE_OUT], batch[Columns.STATE_IN])
        else:
            assert Columns.STATE_OUT not in out
    values = module.compute_values(batch)
    assert values.shape == (B, T)
    assert torch.allclose(values, module.compute_values(batch, out[Columns.EMBEDDINGS]))
    flat = module.forward_inference({Columns.OBS: obs[:, 0]})
    assert flat[ADI].shape == (B, n_actions)


@pytest.mark.parametrize("name", RECURRENT)
def test_state_out_round_trips_into_state_in(name: str) -> None:
    module = build_module(name)
    obs = torch.rand(2, 6, 73)
    whole = module.forward_inference({Columns.OBS: obs})
    first = module.forward_inference({Columns.OBS: obs[:, :4]})
    second = module.forward_inference(
        {Columns.OBS: obs[:, 4:], Columns.STATE_IN: first[Columns.STATE_OUT]}
    )
    assert torch.allclose(torch.cat([first[ADI], second[ADI]], 1), whole[ADI], atol=1e-6)
    assert close(second[Columns.STATE_OUT], whole[Columns.STATE_OUT])


@pytest.mark.parametrize(
    "name, shared", [(n, True) for n in RECURRENT] + [("iam", False), ("gru", False)]
)
def test_stepwise_inference_matches_one_train_pass(name: str, shared: bool) -> None:
    """What the env runner computes step by step is what the learner recomputes per sequence."""
    module = build_module(name, shared_trunk=shared)
    B, T = 3, 8
    obs = torch.rand(B, T, 73)
    state = initial_state(module, B, scale=0.5)
    train = module.forward_train({Columns.OBS: obs, Columns.STATE_IN: state})
    train_values = module.compute_values({}, embeddings=train[Columns.EMBEDDINGS])
    logits, values = [], []
    for t in range(T):
        step = {Columns.OBS: obs[:, t : t + 1], Columns.STATE_IN: state}
        out = module.forward_exploration(step)
        with torch.no_grad():
            values.append(module.compute_values(step))
        logits.append(out[ADI])
        state = out[Columns.STATE_OUT]
    assert torch.allclose(torch.cat(logits, 1), train[ADI], atol=1e-5)
    assert torch.allclose(torch.cat(values, 1), train_values, atol=1e-5)
    assert close(state, train[Columns.STATE_OUT])


def test_iam_memory_sees_only_the_d_set() -> None:
    module = build_module("iam")
    d_set = resolve_d_set("reference", 73)
    outside = [i for i in range(73) if i not in d_set]
    obs = (torch.rand(2, 8, 73) > 0.5).float()

    def flipped(indices: list[int]) -> torch.Tensor:
        other = obs.clone()
        other[..., indices] = 1 - other[..., indices]
        return other

    base = module.forward_inference({Columns.OBS: obs})
    out = module.forward_inference({Columns.OBS: flipped(outside)})
    assert close(out[Columns.STATE_OUT], base[Columns.STATE_OUT], atol=0)
    assert not torch.allclose(out[ADI], base[ADI])  # the FNN branch does see them
    inside = module.forward_inference({Columns.OBS: flipped(d_set)})
    assert not torch.allclose(inside[Columns.STATE_OUT]["h"], base[Columns.STATE_OUT]["h"])
    static = build_module("iam_static")
    static_base = static.forward_inference({Columns.OBS: obs})[Columns.STATE_OUT]["h"]
    static_out = static.forward_inference({Columns.OBS: flipped(outside)})[Columns.STATE_OUT]["h"]
    assert not torch.allclose(static_out, static_base)


def test_heads_as_specified() -> None:
    module = build_module("iam")
    assert module.policy_head.bias is None and module.value_head.bias is not None
    assert module.policy_head.weight.abs().max() < 0.05
    dense = [m for m in module.trunk.modules() if isinstance(m, torch.nn.Linear)]
    assert dense and all(m.bias is None for m in dense)


def test_checkpoint_round_trip(tmp_path) -> None:
    """A checkpoint rebuilds the same network: the resolved config travels with it."""
    module = build_module("iam", d_set="items", shared_trunk=False, param_budget=150_000)
    module.save_to_path(tmp_path)
    restored = RLModule.from_checkpoint(tmp_path)
    assert restored.model_config == module.model_config
    obs = {Columns.OBS: torch.rand(2, 3, 73)}
    assert torch.equal(module.forward_inference(obs)[ADI], restored.forward_inference(obs)[ADI])


@pytest.mark.parametrize("name", ["__init__", *ZOO])
def test_docstring_examples_run(name: str) -> None:
    path = "rllib_iam.models" + ("" if name == "__init__" else f".{name}")
    result = doctest.testmod(importlib.import_module(path), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------- inside RLlib
@pytest.fixture(scope="module")
def ray_session():
    from rllib_iam.session import start_ray

    started = not ray.is_initialized()
    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, extra",
    [pytest.param(n, {}, id=n) for n in WAREHOUSE_MODELS]
    + [pytest.param("iam", {"shared_trunk": False}, id="iam-unshared")],
)
def test_one_ppo_iteration(ray_session, name: str, extra: dict) -> None:
    config = (
        PPOConfig()
        .environment(WAREHOUSE, env_config=env_config_for(name))
        .env_runners(
            num_env_runners=0,
            num_envs_per_env_runner=2,
            gym_env_vectorize_mode="vector_entry_point",
        )
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(rl_module_spec=module_spec(name, max_seq_len=4, **extra))
    )
    algo = config.build_algo()
    try:
        assert isinstance(algo.get_module(), MODELS[name])
        before = {k: v.clone() for k, v in algo.get_module().state_dict().items()}
        result = algo.train()
        stats = result["learners"]["default_policy"]
        assert np.isfinite(stats["total_loss"]) and np.isfinite(stats["vf_loss"])
        after = algo.get_module().state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)
    finally:
        algo.stop()
