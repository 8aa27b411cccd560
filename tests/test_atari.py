"""Flickering Atari on the real ALE, and the image models: shapes, state, attention."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
import tree
from ray.rllib.core.columns import Columns

import rllib_iam
from rllib_iam.envs.atari import GAME_SCORE, make_atari
from rllib_iam.grid import default_models_for, profiles_for
from rllib_iam.models import (
    build_module,
    count_params,
    env_config_for,
    model_class,
    module_spec,
    param_table,
)
from rllib_iam.models.iam_attention import ATTENTION
from rllib_iam.training import paper_ppo_for, ppo_config
from tests.test_models import check_forward_passes

PONG = "rllib_iam/FlickeringPong-v0"
ADI = Columns.ACTION_DIST_INPUTS
IMAGE_MODELS = ["iam_attention", "iam_static", "lstm", "fnn"]
RECURRENT = ["iam_attention", "iam_static", "lstm"]
SMALL = {  # narrow widths keep the forward passes quick; the structure is the default one
    "iam_attention": {},
    "iam_static": {},
    "lstm": {"memory_size": 32},
    "fnn": {"fnn_hiddens": [64]},
}


def frames(*shape: int) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8)


def initial_state(module, batch_size: int, scale: float = 0.0) -> dict:
    return tree.map_structure(
        lambda s: torch.from_numpy(s).repeat(batch_size, 1)
        + scale * torch.randn(batch_size, *s.shape),
        module.get_initial_state(),
    )


def play(env: gym.Env, seed: int, steps: int) -> tuple[list, list, list, list]:
    """Random play from `seed` (actions from their own seeded stream), resetting after ends."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations, rewards, ends, infos = [obs], [], [], []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        observations.append(obs)
        rewards.append(reward)
        ends.append(terminated or truncated)
        infos.append(info)
        if terminated or truncated:
            if GAME_SCORE in info:
                break
            obs, _ = env.reset()
    return observations, rewards, ends, infos


# ------------------------------------------------------------------------ environments
def test_ids_registered_with_their_spaces() -> None:
    for game, actions in (("Pong", 6), ("Breakout", 4)):
        for prefix in ("Flickering", ""):
            env_id = f"rllib_iam/{prefix}{game}-v0"
            assert env_id in rllib_iam.env_ids()
            env = gym.make(env_id)
            assert env.observation_space == gym.spaces.Box(0, 255, (1, 84, 84), np.uint8)
            assert env.action_space == gym.spaces.Discrete(actions)
            env.close()
    assert gym.make(PONG, frame_stack=4).observation_space.shape == (4, 84, 84)


def test_flicker_blanks_half_the_frames_from_a_seeded_stream() -> None:
    flickering = play(gym.make(PONG), seed=3, steps=200)[0]
    blank = np.mean([o.max() == 0 for o in flickering])
    assert 0.38 < blank < 0.62
    plain = play(gym.make("rllib_iam/Pong-v0"), seed=3, steps=200)[0]
    assert all(o.max() > 0 for o in plain)
    again = play(gym.make(PONG), seed=3, steps=200)[0]
    assert all(np.array_equal(a, b) for a, b in zip(flickering, again, strict=True))
    other = play(gym.make(PONG), seed=4, steps=200)[0]
    assert [o.max() == 0 for o in other] != [o.max() == 0 for o in flickering]


def test_frame_stack_keeps_the_last_k_frames_oldest_first() -> None:
    env = make_atari("Pong", frame_stack=3)
    first, _ = env.reset(seed=0)
    assert not first[:2].any() and first[2].any()  # zeros before the game's first frame
    second = env.step(0)[0]
    assert np.array_equal(second[1], first[2])


def test_episodic_life_and_clipping_keep_the_game_score() -> None:
    """Lives end training episodes, rewards are clipped, the game's own score is reported."""
    steps = 5000
    clipped = play(make_atari("Breakout", clip_rewards=True), seed=1, steps=steps)
    raw = play(make_atari("Breakout", clip_rewards=False), seed=1, steps=steps)
    assert np.array_equal(clipped[1], np.sign(raw[1]))
    assert set(np.unique(clipped[1])) <= {0.0, 1.0}
    assert sum(clipped[2]) == 5  # Breakout's five lives: five training episodes, one game
    score = raw[3][-1][GAME_SCORE]
    assert score == clipped[3][-1][GAME_SCORE] == sum(raw[1])
    assert all(GAME_SCORE not in info for info in raw[3][:-1])
    whole = play(make_atari("Breakout", episodic_life=False), seed=1, steps=steps)
    assert sum(whole[2]) == 1


def test_vector_env_resets_next_step() -> None:
    envs = gym.make_vec(PONG, num_envs=2, vectorization_mode="vector_entry_point")
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 1, 84, 84)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    envs.close()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"flicker": 1.0}, "flicker must be a probability"),
        ({"frame_stack": 0}, "frame_stack must be an integer >= 1"),
        ({"noop_max": -1}, "noop_max must be an integer >= 0"),
        ({"colour": True}, "unknown Atari option.*valid: flicker"),
    ],
)
def test_bad_options_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_atari("Pong", **options)


def test_training_settings_for_atari() -> None:
    assert default_models_for(PONG) == tuple(IMAGE_MODELS)
    assert profiles_for(PONG)["smoke"].timesteps == 1024
    ppo = paper_ppo_for(PONG)
    assert (ppo.gae_horizon, ppo.rollout_fragment_length, ppo.max_seq_len) == (128, 128, 8)
    assert env_config_for("fnn", PONG) == {"frame_stack": 4}
    assert env_config_for("iam_attention", PONG) == {}
    config = ppo_config("fnn", PONG, total_timesteps=1024)
    assert config.env_config["frame_stack"] == 4
    assert config.rl_module_spec.observation_space.shape == (4, 84, 84)


# ------------------------------------------------------------------------------ models
def test_image_models_are_chosen_by_env_and_counted() -> None:
    table = param_table(PONG)
    for name in IMAGE_MODELS:
        module = build_module(name, PONG)
        assert f"`{name}`" in table
        sizes = module.observation_space.shape, module.action_space.n
        assert model_class(name).count_for(module.model_config, *sizes) == count_params(module)
    assert "`iam`" not in table  # the manual d-set has no meaning for pixels
    with pytest.raises(ValueError, match="no default sizes for env"):
        build_module("iam", PONG)
    with pytest.raises(ValueError, match="no default sizes for env"):
        build_module("iam_attention")
    attention = build_module("iam_attention", PONG)
    assert attention.trunk.memory_branch.input_size == 64 + 49  # glimpse and the 49 weights
    assert attention.trunk.memory_branch.hidden_size == 16
    assert build_module("iam_static", PONG).trunk.inner.memory_branch.rnn.input_size == 3136
    assert build_module("lstm", PONG).trunk.inner.rnn.hidden_size == 512


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_forward_passes_on_image_batches(name: str) -> None:
    module = build_module(name, PONG, **SMALL[name])
    assert module.is_stateful() == (name in RECURRENT)
    check_forward_passes(module, frames(2, 3, module.observation_space.shape[0], 84, 84))


@pytest.mark.parametrize("name", RECURRENT)
def test_stepwise_inference_matches_one_train_pass(name: str) -> None:
    module = build_module(name, PONG, **SMALL[name])
    B, T = 2, 4
    obs = frames(B, T, 1, 84, 84)
    state = initial_state(module, B, scale=0.5)
    train = module.forward_train({Columns.OBS: obs, Columns.STATE_IN: state})
    logits = []
    for t in range(T):
        out = module.forward_exploration({Columns.OBS: obs[:, t], Columns.STATE_IN: state})
        logits.append(out[ADI])
        state = out[Columns.STATE_OUT]
    assert torch.allclose(torch.stack(logits, 1), train[ADI], atol=1e-5)
    assert torch.allclose(state["h"], train[Columns.STATE_OUT]["h"], atol=1e-5)


def test_attention_weights_sum_to_one_and_follow_the_memory() -> None:
    module = build_module("iam_attention", PONG)
    obs = frames(2, 5, 1, 84, 84)
    state = initial_state(module, 2, scale=0.5)
    out = module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: state})
    weights = out[ATTENTION]
    assert weights.shape == (2, 5, 49)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 5), atol=1e-6)
    assert (weights > 0).all()

    def first_weights(state: dict) -> torch.Tensor:
        step = {Columns.OBS: obs[:, 0], Columns.STATE_IN: state}
        return module.forward_inference(step)[ATTENTION]

    base = first_weights(state)
    assert base.shape == (2, 49)
    moved_h = first_weights({**state, "h": state["h"] + 1.0})
    assert (moved_h - base).abs().max() > 1e-4  # d_{t-1} steers where the memory looks
    moved_c = first_weights({**state, "c": state["c"] + 1.0})
    assert torch.equal(moved_c, base)  # only the output h_{t-1} does


def test_attention_memory_reads_only_through_the_attention() -> None:
    """The LSTM's input is the glimpse and the weights: with h fixed, a region that gets no
    weight cannot reach the memory (here: the whole map blanked but the weights kept)."""
    module = build_module("iam_attention", PONG)
    trunk = module.trunk
    with torch.no_grad():
        trunk.attention.score.weight.zero_()  # uniform weights whatever the regions
    obs = frames(2, 1, 1, 84, 84)
    state = initial_state(module, 2)
    out = module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: state})
    assert torch.allclose(out[ATTENTION], torch.full((2, 1, 49), 1 / 49))
    regions = trunk.cnn(obs).flatten(-2).transpose(-1, -2)[:, 0]
    glimpse = regions.mean(1)
    h, _ = trunk.memory_branch(
        torch.cat([glimpse, out[ATTENTION][:, 0]], -1), (state["h"], state["c"])
    )
    assert torch.allclose(out[Columns.STATE_OUT]["h"], h, atol=1e-6)


def test_spec_fails_early_on_bad_input() -> None:
    with pytest.raises(ValueError, match=r"unknown model_config key.*d_set"):
        module_spec("iam_attention", PONG, d_set="items")
    with pytest.raises(ValueError, match="attention_size must be a positive integer"):
        module_spec("iam_attention", PONG, attention_size=0)


def test_game_score_reaches_rllib_metrics() -> None:
    """Through RLlib's env runner: lives are episodes, the logged score is whole games'."""
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    ended: list[tuple[float, float | None]] = []

    class Spy(RLlibCallback):
        def on_episode_end(self, *, episode, **kwargs) -> None:
            ended.append((episode.get_return(), episode.get_infos(-1).get(GAME_SCORE)))

    config = ppo_config("fnn", "rllib_iam/Breakout-v0", total_timesteps=10**6, num_envs=1,
                        rollout_fragment_length=256, minibatch_size=64)
    config.callbacks(callbacks_class=[*config.callbacks_class, Spy])
    runner = SingleAgentEnvRunner(config=config)
    runner.sample(num_timesteps=600, random_actions=True)
    metrics = runner.get_metrics()
    runner.stop()
    games = [score for _, score in ended if score is not None]
    assert games and len(ended) >= 5 * len(games)  # five lives per game
    assert metrics[GAME_SCORE].peek() == pytest.approx(np.mean(games))
    lives = [ret for ret, _ in ended]
    assert metrics["episode_return_mean"].peek() == pytest.approx(np.mean(lives))
