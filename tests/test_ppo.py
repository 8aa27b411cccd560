"""The reference's PPO pieces against hand-computed numbers, then one real training iteration.

The GAE and loss examples use γ = λ = 0.5 (γλ = 0.25) so every number below can be checked by
hand; the code paths are the same as with the paper's 0.99 / 0.95.
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import ray
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME, NUM_MODULE_STEPS_TRAINED
from ray.rllib.utils.postprocessing.zero_padding import BatchedNdArray, split_and_zero_pad
from torch import nn

from rllib_iam.ppo import (
    ADAM_EPS,
    ADAM_FUSED,
    CLIP_PARAM_SCHEDULE,
    GAE_HORIZON,
    GAE_PHASE_KEY,
    NORMALIZE_ADVANTAGES,
    VF_CLIP,
    PaperPPOTorchLearner,
    TruncatedGAE,
    truncated_gae,
)
from rllib_iam.ppo.gae import horizon_cuts
from rllib_iam.ppo.padding import ArrayZeroPad, split_and_zero_pad_arrays

ROOT = Path(__file__).resolve().parent.parent

OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT_SPACE = gym.spaces.Discrete(2)


class ObsIsValueModule(TorchRLModule, ValueFunctionAPI):
    """Test module: V(o) = o[0] and policy logits = o[1:], both times a scale parameter (1.0).

    The batch alone fixes every value and probability, so losses can be worked out by hand.
    """

    def setup(self) -> None:
        self.scale = nn.Parameter(torch.ones(()))

    def _forward(self, batch: dict, **kwargs) -> dict:
        return {Columns.ACTION_DIST_INPUTS: self.scale * batch[Columns.OBS][..., 1:]}

    def compute_values(self, batch: dict, embeddings=None) -> torch.Tensor:
        return self.scale * batch[Columns.OBS][..., 0]

    def get_train_action_dist_cls(self):
        return TorchCategorical

    get_exploration_action_dist_cls = get_train_action_dist_cls
    get_inference_action_dist_cls = get_train_action_dist_cls


def build_learner(
    *, horizon: int | None, clip_schedule=None, lr=1e-3, normalize=False, gamma=0.5, lambda_=0.5,
    extra=None,
):
    config = (
        PPOConfig()
        .environment(observation_space=OBS_SPACE, action_space=ACT_SPACE)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=ObsIsValueModule))
        .training(
            learner_class=PaperPPOTorchLearner,
            gamma=gamma,
            lambda_=lambda_,
            lr=lr,
            clip_param=0.1,
            entropy_coeff=0.01,
            vf_loss_coeff=1.0,
            use_kl_loss=False,
            grad_clip=None,
        )
        .learners(
            learner_config_dict={
                GAE_HORIZON: horizon,
                NORMALIZE_ADVANTAGES: normalize,
                CLIP_PARAM_SCHEDULE: clip_schedule,
                **(extra or {}),
            }
        )
    )
    return config.build_learner(spaces={DEFAULT_MODULE_ID: (OBS_SPACE, ACT_SPACE)})


# ---------------------------------------------------------------------------- the GAE example
# One env's rollout fragment of 6 steps, horizon 3, so slices are positions [0, 1, 2] [3, 4, 5]:
#   chunk A: an episode that terminates after 4 steps (positions 0-3), values 1 2 3 4, the
#            terminal observation's value 5 (never used), rewards 1 0 2 1;
#   chunk B: the next episode, positions 4-5, still running when the fragment ends: values 6 7,
#            bootstrap value 8, rewards 1 1.
# A second env contributes chunk C: a continuation chunk with no recorded phase (so it starts a
# slice), 4 steps, values all 1 (bootstrap 1), rewards 0 0 0 1, still running.
#
# With γ = λ = 0.5, δ_t = r_t + 0.5 (1 - term_t) V_{t+1} - V_t, A_t = δ_t + 0.25 A_{t+1} inside a
# slice.
#   A: δ = 1+1-1=1, 0+1.5-2=-0.5, 2+2-3=1 (slice ends: bootstraps V_3=4), 1-4=-3 (terminal).
#      A_3 = -3; A_2 = 1 (cut); A_1 = -0.5 + 0.25*1 = -0.25; A_0 = 1 + 0.25*-0.25 = 0.9375.
#      Plain GAE: A_2 = 1 + 0.25*-3 = 0.25; A_1 = -0.4375; A_0 = 1 + 0.25*-0.4375 = 0.890625.
#   B: δ = 1+3.5-6=-1.5, 1+4-7=-2.  A_5 = -2; A_4 = -1.5 + 0.25*-2 = -2 (same plain).
#   C: δ = -0.5, -0.5, -0.5, 0.5. Cut after its 3rd step: A = -0.65625, -0.625, -0.5, 0.5.
#      Plain: A_2 = -0.5 + 0.125 = -0.375; A_1 = -0.59375; A_0 = -0.6484375; A_3 = 0.5.
TRUNCATED_ADVANTAGES = [0.9375, -0.25, 1.0, -3.0, -2.0, -2.0, -0.65625, -0.625, -0.5, 0.5]
PLAIN_ADVANTAGES = [0.890625, -0.4375, 0.25, -3.0, -2.0, -2.0, -0.6484375, -0.59375, -0.375, 0.5]
VALUES = [1, 2, 3, 4, 6, 7, 1, 1, 1, 1]


def example_episodes() -> list[SingleAgentEpisode]:
    def chunk(values, rewards, terminated, phase=None, t_started=0):
        obs = [np.array([v, 0.0, 0.0], np.float32) for v in values]
        episode = SingleAgentEpisode(
            observations=obs,
            actions=[0] * len(rewards),
            rewards=rewards,
            terminated=terminated,
            t_started=t_started,
            len_lookback_buffer=0,
        ).to_numpy()
        if phase is not None:
            episode.custom_data[GAE_PHASE_KEY] = phase
        return episode

    return [
        chunk([1, 2, 3, 4, 5], [1.0, 0.0, 2.0, 1.0], terminated=True, phase=0),
        chunk([6, 7, 8], [1.0, 1.0], terminated=False, phase=4),
        chunk([1, 1, 1, 1, 1], [0.0, 0.0, 0.0, 1.0], terminated=False, t_started=40),
    ]


def test_horizon_cuts_mark_slice_ends_inside_chunks():
    # Lengths include RLlib's artificial last step, which is never cut.
    cuts = horizon_cuts([5, 3, 5], [0, 4, 0], horizon=3)
    expected = [0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]  # chunks of 5, 3 and 5 rows
    assert cuts.tolist() == [bool(x) for x in expected]


def test_truncated_gae_on_flat_arrays():
    # The example as RLlib's learner pipeline lays it out: each chunk followed by one artificial
    # step (value = bootstrap value, reward 0); the chunk's last real step is flagged terminated
    # (A) or truncated (B, C).
    values = np.array([1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1, 1, 1], np.float32)
    rewards = np.array([1, 0, 2, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0], np.float32)
    terminateds = np.zeros(13, bool)
    terminateds[3] = True
    truncateds = np.zeros(13, bool)
    truncateds[[6, 11]] = True
    real = np.array([1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0], bool)
    kwargs = dict(
        values=values,
        rewards=rewards,
        terminateds=terminateds,
        truncateds=truncateds,
        episode_lens=[5, 3, 5],
        phases=[0, 4, 0],
        gamma=0.5,
        lambda_=0.5,
    )
    advantages, targets = truncated_gae(horizon=3, **kwargs)
    np.testing.assert_allclose(advantages[real], TRUNCATED_ADVANTAGES, rtol=1e-6)
    np.testing.assert_allclose(targets[real], np.add(TRUNCATED_ADVANTAGES, VALUES), rtol=1e-6)
    for plain_horizon in (None, 6, 1000):  # a horizon >= the fragment is plain GAE
        advantages, _ = truncated_gae(horizon=plain_horizon, **kwargs)
        np.testing.assert_allclose(advantages[real], PLAIN_ADVANTAGES, rtol=1e-6)
    advantages, _ = truncated_gae(horizon=1, **kwargs)  # every step cut: one-step TD errors
    np.testing.assert_allclose(
        advantages[real], [1, -0.5, 1, -3, -1.5, -2, -0.5, -0.5, -0.5, 0.5], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("horizon", "expected"), [(3, TRUNCATED_ADVANTAGES), (6, PLAIN_ADVANTAGES)]
)
def test_learner_pipeline_computes_truncated_gae(horizon, expected):
    """Episodes through the learner's real connector pipeline (extra timestep, batching, GAE)."""
    learner = build_learner(horizon=horizon)
    pieces = [type(c).__name__ for c in learner._learner_connector.connectors]
    assert pieces[0] == "AddOneTsToEpisodesAndTruncate"
    assert pieces[-1] == "TruncatedGAE"
    assert "GeneralAdvantageEstimation" not in pieces

    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=example_episodes(), shared_data={}
    )[DEFAULT_MODULE_ID]
    real = batch[Columns.LOSS_MASK].numpy()
    advantages = batch[Postprocessing.ADVANTAGES].numpy()[real]
    np.testing.assert_allclose(advantages, expected, rtol=1e-6)  # not standardised
    np.testing.assert_allclose(
        batch[Postprocessing.VALUE_TARGETS].numpy()[real], np.add(expected, VALUES), rtol=1e-6
    )
    np.testing.assert_allclose(batch[Columns.VF_PREDS].numpy()[real], VALUES)


def reference_advantages(rewards, values, dones, bootstrap, horizon, gamma, lam):
    """The authors' `PPOcontroller.bootstrap` + `_compute_advantages`, for one env's fragment:
    every `horizon` steps, GAE backwards over those steps from V(next observation), with
    `1 - done` masking the carried value and advantage."""
    advantages = np.zeros(len(rewards))
    for start in range(0, len(rewards), horizon):
        end = min(start + horizon, len(rewards))
        last_value = values[end] if end < len(rewards) else bootstrap
        last_advantage = 0.0
        for t in reversed(range(start, end)):
            mask = 1.0 - dones[t]
            last_value, last_advantage = last_value * mask, last_advantage * mask
            last_advantage = (
                rewards[t] + gamma * last_value - values[t] + gamma * lam * last_advantage
            )
            advantages[t] = last_advantage
            last_value = values[t]
    return advantages


def test_matches_the_reference_code_on_random_fragments():
    """Two envs' 32-step fragments with episode ends inside them, γ/λ as in the paper, cut into
    episode chunks as RLlib's env runner delivers them, against the reference's own loop."""
    rng = np.random.default_rng(0)
    horizon, length = 8, 32
    chunks, expected = [], []
    for done_at in ([5, 20], [7, 15, 16]):  # 7, 15: a done on a slice end; 16: one-step episode
        rewards = rng.normal(size=length)
        values = rng.normal(size=length + 1)  # values[32]: the bootstrap observation's
        dones = np.isin(np.arange(length), done_at).astype(float)
        expected += list(
            reference_advantages(rewards, values, dones, values[-1], horizon, 0.99, 0.95)
        )
        starts = [0] + [d + 1 for d in done_at]
        for start, end in zip(starts, [*done_at, length - 1], strict=True):
            terminated = end in done_at
            # A terminated chunk ends in its terminal observation (value never used: 1e6).
            obs_values = [*values[start : end + 1], 1e6 if terminated else values[end + 1]]
            chunk = SingleAgentEpisode(
                observations=[np.array([v, 0, 0], np.float32) for v in obs_values],
                actions=[0] * (end + 1 - start),
                rewards=list(rewards[start : end + 1]),
                terminated=terminated,
                len_lookback_buffer=0,
            ).to_numpy()
            chunk.custom_data[GAE_PHASE_KEY] = start
            chunks.append(chunk)

    learner = build_learner(horizon=horizon, gamma=0.99, lambda_=0.95)
    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=chunks, shared_data={}
    )[DEFAULT_MODULE_ID]
    advantages = batch[Postprocessing.ADVANTAGES].numpy()[batch[Columns.LOSS_MASK].numpy()]
    np.testing.assert_allclose(advantages, expected, rtol=1e-4, atol=1e-5)


def test_recurrent_batch_columns_line_up():
    """A recurrent model's batch is zero-padded into (B, max_seq_len) rows: the old values the
    connector stores must equal the module's own values at every real step."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from rllib_iam.training import ppo_config

    config = ppo_config(
        "iam", total_timesteps=10_000, num_envs=2, rollout_fragment_length=120, minibatch_size=80
    )
    runner = SingleAgentEnvRunner(config=config)
    try:
        chunks = runner.sample()
    finally:
        runner.stop()
    spec = config.rl_module_spec
    learner = config.build_learner(
        spaces={DEFAULT_MODULE_ID: (spec.observation_space, spec.action_space)}
    )
    module = learner.module[DEFAULT_MODULE_ID]
    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=chunks, shared_data={}
    )[DEFAULT_MODULE_ID]
    real = batch[Columns.LOSS_MASK]
    assert real.shape == (real.shape[0], 8) and int(real.sum()) == 2 * 120
    with torch.no_grad():
        values = module.compute_values(batch)
    torch.testing.assert_close(batch[Columns.VF_PREDS][real], values[real])
    torch.testing.assert_close(
        batch[Postprocessing.ADVANTAGES][real],
        batch[Postprocessing.VALUE_TARGETS][real] - values[real],
    )


@pytest.mark.parametrize(
    "items",
    [
        [BatchedNdArray(np.arange(21, dtype=np.float32).reshape(7, 3))],  # one piece, padded
        [BatchedNdArray(np.arange(5)), BatchedNdArray(np.arange(11))],  # pieces, 16 = 2 x 8
        [np.float32(i) for i in range(3)],  # per-step items
        [np.array([i, -i], np.int32) for i in range(9)],
        [bool(i % 2) for i in range(10)],
        [0.5 * i for i in range(8)],  # python floats, no padding
    ],
)
def test_array_padding_equals_rllibs(items):
    ours = split_and_zero_pad_arrays(list(items), 8)
    stock = split_and_zero_pad(list(items), 8)
    assert len(ours) == len(stock)
    for a, b in zip(ours, stock, strict=True):
        assert a.dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("model_config", [{}, {"shared_trunk": False}])
def test_array_zero_pad_gives_the_stock_learner_batch(model_config):
    """The learner pipeline with `ArrayZeroPad` and with RLlib's stock padding connector, on the
    same episode chunks (8 envs x 128 steps, episode ends inside), give identical batches."""
    import copy

    from ray.rllib.connectors.common.add_time_dim_to_batch_and_zero_pad import (
        AddTimeDimToBatchAndZeroPad,
    )

    from rllib_iam.ppo.sampling import LeanEnvRunner
    from rllib_iam.training import ppo_config

    config = ppo_config("lstm", total_timesteps=10_000, model_config=model_config)
    runner = LeanEnvRunner(config=config)
    try:
        chunks = runner.sample() + runner.sample()
    finally:
        runner.stop()
    spec = config.rl_module_spec
    learner = config.build_learner(
        spaces={DEFAULT_MODULE_ID: (spec.observation_space, spec.action_space)}
    )
    pipeline = learner._learner_connector

    def run() -> dict:
        return pipeline(
            rl_module=learner.module, batch={}, episodes=copy.deepcopy(chunks), shared_data={}
        )[DEFAULT_MODULE_ID]

    assert ArrayZeroPad in [type(c) for c in pipeline.connectors]
    ours = run()
    pipeline.insert_before(ArrayZeroPad, AddTimeDimToBatchAndZeroPad(as_learner_connector=True))
    pipeline.remove(ArrayZeroPad)
    stock = run()
    assert ours[Columns.LOSS_MASK].shape[1] == 8 and not ours[Columns.LOSS_MASK].all()

    def same(a, b, where):
        if isinstance(a, dict):
            assert set(a) == set(b), where
            for k in a:
                same(a[k], b[k], f"{where}.{k}")
        else:
            assert a.dtype == b.dtype and a.shape == b.shape, where
            assert torch.equal(a, b), where

    same(ours, stock, "batch")


def test_normalize_advantages_option():
    learner = build_learner(horizon=3, normalize=True)
    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=example_episodes(), shared_data={}
    )[DEFAULT_MODULE_ID]
    # Standardised over the whole batch (RLlib's way), artificial steps included.
    assert abs(float(batch[Postprocessing.ADVANTAGES].mean())) < 1e-5


def test_truncated_gae_rejects_bad_horizon():
    with pytest.raises(ValueError, match="horizon"):
        TruncatedGAE(gamma=0.99, lambda_=0.95, horizon=0)


# ---------------------------------------------------------------------------- the loss example
def module_loss(learner, batch):
    """The learner's loss on ``batch`` (one forward pass of its module)."""
    module = learner.module[DEFAULT_MODULE_ID]
    return learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID,
        config=learner.config.get_config_for_module(DEFAULT_MODULE_ID),
        batch=batch,
        fwd_out=module.forward_train(batch),
    )


def test_ppo2_loss_on_hand_computed_batch():
    """Three transitions (plus one masked row); current policy 50/50, so logp = ln 0.5.

    ε = 0.1.  Policy: ratio = 0.5 / p_old.
      row 1: A=2,  p_old=0.4   -> ratio 1.25, min(2.5, 2*1.1)   = 2.2
      row 2: A=-1, p_old=0.625 -> ratio 0.8,  min(-0.8, -1*0.9) = -0.9
      row 3: A=1,  p_old=0.5   -> ratio 1.0                     = 1.0
      policy loss = -(2.2 - 0.9 + 1.0) / 3 = -2.3 / 3
    Value: max((V-R)^2, (V_old + clip(V - V_old, ±ε) - R)^2)
      row 1: V=1, V_old=0.5,  R=2: max(1, (0.6-2)^2 = 1.96)   = 1.96
      row 2: V=1, V_old=1.05, R=0: V within ε of V_old        = 1
      row 3: V=0, V_old=0.3,  R=1: max(1, (0.2-1)^2 = 0.64)   = 1
      value loss = 3.96 / 3 = 1.32   (no 0.5 factor)
    Entropy ln 2 each. Total = -2.3/3 + 1.0 * 1.32 - 0.01 ln 2.
    """
    learner = build_learner(horizon=8, clip_schedule=[[0, 0.1], [1000, 1e-5]])
    p_old = [0.4, 0.625, 0.5, 0.01]
    batch = {
        Columns.OBS: torch.tensor(
            [[1.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0], [100.0, 5, -5]], dtype=torch.float32
        ),
        Columns.ACTIONS: torch.tensor([0, 1, 0, 1]),
        Columns.ACTION_LOGP: torch.log(torch.tensor(p_old)),
        Postprocessing.ADVANTAGES: torch.tensor([2.0, -1.0, 1.0, 50.0]),
        Postprocessing.VALUE_TARGETS: torch.tensor([2.0, 0.0, 1.0, -50.0]),
        Columns.VF_PREDS: torch.tensor([0.5, 1.05, 0.3, 7.0]),
        Columns.LOSS_MASK: torch.tensor([True, True, True, False]),
    }
    loss = module_loss(learner, batch)
    expected = -2.3 / 3 + 1.32 - 0.01 * math.log(2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("vf_clip", "value_loss"),
    [
        # clamp (SB3's clip_range_vf): the clipped prediction's error alone:
        #   row 1: (0.6 - 2)^2 = 1.96; row 2: V within ε: (1 - 0)^2 = 1; row 3: (0.2 - 1)^2 = 0.64
        ("clamp", (1.96 + 1 + 0.64) / 3),
        # none: (V - R)^2 = 1, 1, 1
        ("none", 1.0),
        ("max", 1.32),
    ],
)
def test_value_loss_forms_on_the_hand_computed_batch(vf_clip, value_loss):
    """The batch of `test_ppo2_loss_on_hand_computed_batch` under each `VF_CLIP` form."""
    learner = build_learner(
        horizon=8, clip_schedule=[[0, 0.1], [1000, 1e-5]], extra={VF_CLIP: vf_clip}
    )
    batch = {
        Columns.OBS: torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0]], dtype=torch.float32),
        Columns.ACTIONS: torch.tensor([0, 1, 0]),
        Columns.ACTION_LOGP: torch.log(torch.tensor([0.4, 0.625, 0.5])),
        Postprocessing.ADVANTAGES: torch.tensor([2.0, -1.0, 1.0]),
        Postprocessing.VALUE_TARGETS: torch.tensor([2.0, 0.0, 1.0]),
        Columns.VF_PREDS: torch.tensor([0.5, 1.05, 0.3]),
    }
    loss = module_loss(learner, batch)
    expected = -2.3 / 3 + value_loss - 0.01 * math.log(2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("eps", [None, 1e-5])
def test_adam_eps_reaches_the_optimizer(eps):
    learner = build_learner(horizon=8, extra={} if eps is None else {ADAM_EPS: eps})
    optimizer = learner.get_optimizer(DEFAULT_MODULE_ID)
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["eps"] == (1e-8 if eps is None else eps)


@pytest.mark.parametrize("fused", [None, False, True])
def test_adam_fused_reaches_the_optimizer(fused):
    learner = build_learner(horizon=8, extra={} if fused is None else {ADAM_FUSED: fused})
    optimizer = learner.get_optimizer(DEFAULT_MODULE_ID)
    assert bool(optimizer.defaults["fused"]) is bool(fused)


def test_fused_adam_trains_from_the_config_and_rounds_differently(ray_local):
    """``adam_fused`` reaches the learner through `ppo_config`; one update under RLlib's tensor
    lr runs and lands near, but not bit for bit on, the per-tensor Adam's weights."""
    from rllib_iam.training import ppo_config

    weights = []
    for fused in (False, True):
        config = ppo_config("fnn", seed=1, total_timesteps=10_000, num_envs=4,
                            rollout_fragment_length=32, minibatch_size=64,
                            ppo_overrides={"adam_fused": fused})
        assert config.learner_config_dict[ADAM_FUSED] is fused
        algo = config.build_algo()
        try:
            algo.train()
            module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
            weights.append({k: v.detach().clone() for k, v in module.state_dict().items()})
        finally:
            algo.stop()
    plain, fused = weights
    assert not all(torch.equal(plain[k], fused[k]) for k in plain)
    assert all(torch.allclose(plain[k], fused[k], atol=1e-5) for k in plain)


def test_clip_and_lr_decay_linearly_with_env_steps():
    learner = build_learner(
        horizon=8, clip_schedule=[[0, 0.1], [1000, 1e-5]], lr=[[0, 2.5e-4], [1000, 1e-10]]
    )
    clip = learner.clip_param_schedulers_per_module[DEFAULT_MODULE_ID]
    optimizer = learner.get_optimizer(DEFAULT_MODULE_ID)
    assert float(clip.get_current_value()) == pytest.approx(0.1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(2.5e-4)
    for steps, fraction in ((250, 0.25), (1000, 1.0), (5000, 1.0)):
        learner.after_gradient_based_update(timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: steps})
        assert float(clip.get_current_value()) == pytest.approx(0.1 + (1e-5 - 0.1) * fraction)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            2.5e-4 + (1e-10 - 2.5e-4) * fraction
        )


# ------------------------------------------------------------------------- with the real env
def test_fragment_phase_matches_each_envs_fragment():
    """Sample Warehouse through RLlib's env runner: every chunk knows where its env's fragment
    put it. Warehouse episodes all last 100 steps, so each env gets exactly 128 steps."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from rllib_iam.training import ppo_config

    config = ppo_config("fnn", total_timesteps=10_000, num_envs=4)
    runner = SingleAgentEnvRunner(config=config)
    try:
        for _ in range(3):  # fragments 1-3 hold episode tails, whole episodes and heads
            chunks = runner.sample()
            assert sum(len(c) for c in chunks) == 4 * 128
            for c in chunks:
                phase = c.custom_data[GAE_PHASE_KEY]
                if c.t_started > 0:  # a continuation starts its fragment
                    assert phase == 0
                if not c.is_done:  # a running episode ends its fragment
                    assert phase + len(c) == 128
                else:
                    assert phase + len(c) <= 128
                    assert c.is_terminated  # the time limit as terminal (paper setting)
    finally:
        runner.stop()


def test_seed_reaches_envs_and_module():
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from rllib_iam.training import ppo_config

    def sample(seed):
        config = ppo_config(
            "fnn",
            total_timesteps=1000,
            seed=seed,
            num_envs=2,
            rollout_fragment_length=32,
            minibatch_size=64,
        )
        runner = SingleAgentEnvRunner(config=config)
        try:
            chunks = runner.sample()
            weights = next(iter(runner.module.parameters())).detach().clone()
        finally:
            runner.stop()
        return np.concatenate([c.get_observations().ravel() for c in chunks]), weights

    (obs_a, w_a), (obs_b, w_b), (obs_c, w_c) = sample(0), sample(0), sample(1)
    assert np.array_equal(obs_a, obs_b) and torch.equal(w_a, w_b)
    assert not np.array_equal(obs_a, obs_c) and not torch.equal(w_a, w_c)


@pytest.fixture(scope="module")
def ray_local():
    from rllib_iam.session import start_ray

    start_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ppo_config_paper_settings():
    from rllib_iam.training import PAPER_PPO, ppo_config

    config = ppo_config("fnn", total_timesteps=32_000_000, seed=3)
    assert config.learner_class is PaperPPOTorchLearner
    assert config.train_batch_size_per_learner == 1024
    assert (config.num_envs_per_env_runner, config.rollout_fragment_length) == (8, 128)
    assert (config.minibatch_size, config.num_epochs) == (256, 3)
    assert (config.gamma, config.lambda_) == (0.99, 0.95)
    assert config.lr == [[0, 2.5e-4], [32_000_000, PAPER_PPO.lr_final]]
    assert config.learner_config_dict[CLIP_PARAM_SCHEDULE][-1] == [32_000_000, 1e-5]
    assert config.learner_config_dict[GAE_HORIZON] == 8
    assert config.learner_config_dict[NORMALIZE_ADVANTAGES] is False
    assert (config.entropy_coeff, config.vf_loss_coeff, config.grad_clip) == (0.01, 1.0, None)
    assert not config.use_kl_loss
    assert config.env_config["time_limit_as_terminal"] is True
    assert config.gym_env_vectorize_mode == "vector_entry_point"
    assert config.seed == 3
    # the paper's clock whatever the budget; "budget" ends the decays at the trial's budget
    short = ppo_config("fnn", total_timesteps=4_000_000)
    assert short.lr[-1][0] == 32_000_000
    assert short.learner_config_dict[CLIP_PARAM_SCHEDULE][-1][0] == 32_000_000
    own = ppo_config("fnn", total_timesteps=4_000_000, decay_over="budget")
    assert own.lr[-1][0] == own.learner_config_dict[CLIP_PARAM_SCHEDULE][-1][0] == 4_000_000
    assert ppo_config("fnn", total_timesteps=10, decay_over=5000).lr[-1][0] == 5000
    assert config.learner_config_dict[VF_CLIP] == "max"
    assert config.learner_config_dict[ADAM_EPS] == 1e-8
    changed = ppo_config(
        "fnn", total_timesteps=1000,
        ppo_overrides={"vf_clip": "clamp", "adam_eps": 1e-5, "gae_horizon": 128,
                       "normalize_advantages": True, "grad_clip": 0.5, "num_envs": 4},
    )
    assert changed.learner_config_dict[VF_CLIP] == "clamp"
    assert changed.learner_config_dict[ADAM_EPS] == 1e-5
    assert changed.learner_config_dict[GAE_HORIZON] == 128
    assert changed.learner_config_dict[NORMALIZE_ADVANTAGES] is True
    assert (changed.grad_clip, changed.grad_clip_by) == (0.5, "global_norm")
    assert changed.num_envs_per_env_runner == 4 and changed.train_batch_size_per_learner == 512
    assert changed.env_config["time_limit_as_terminal"] is True
    bootstrapped = ppo_config("fnn", total_timesteps=1000,
                              ppo_overrides={"time_limit_as_terminal": False})
    assert bootstrapped.env_config["time_limit_as_terminal"] is False
    stock = ppo_config("fnn", total_timesteps=1000, ppo="rllib")
    assert stock.learner_class is not PaperPPOTorchLearner
    assert stock.lr == PPOConfig().lr and stock.num_epochs == PPOConfig().num_epochs
    assert stock.train_batch_size_per_learner == 1024 and stock.minibatch_size == 256


def test_tuned_is_the_committed_search_winner_over_the_paper_settings():
    """``tuned`` = ``paper`` + results/ppo-search/winner.json's settings, nothing else."""
    import dataclasses
    import json

    from rllib_iam import WAREHOUSE_ID
    from rllib_iam.training import PAPER_PPO, TUNED_PPO_BY_ENV, ppo_config, ppo_settings

    winner = json.loads((ROOT / "results" / "ppo-search" / "winner.json").read_text())
    assert TUNED_PPO_BY_ENV[WAREHOUSE_ID] == winner["ppo_config"]
    tuned = ppo_settings(WAREHOUSE_ID, "tuned")
    assert tuned == dataclasses.replace(PAPER_PPO, **winner["ppo_config"])
    assert ppo_settings(WAREHOUSE_ID, "tuned", {"lr": 1e-4}).lr == 1e-4  # --ppo-config on top
    config = ppo_config("fnn", total_timesteps=4_000_000, ppo="tuned")
    assert config.learner_class is PaperPPOTorchLearner
    assert config.num_envs_per_env_runner == tuned.num_envs
    assert config.rollout_fragment_length == tuned.rollout_fragment_length
    assert (config.minibatch_size, config.num_epochs) == (tuned.minibatch_size, tuned.num_epochs)
    assert config.lr == [[0, tuned.lr], [32_000_000, PAPER_PPO.lr_final]]  # the paper's clock
    assert config.learner_config_dict[CLIP_PARAM_SCHEDULE][0] == [0, tuned.clip_param]
    assert config.learner_config_dict[GAE_HORIZON] == tuned.gae_horizon
    assert config.learner_config_dict[NORMALIZE_ADVANTAGES] is tuned.normalize_advantages
    assert config.learner_config_dict[VF_CLIP] == tuned.vf_clip
    assert config.learner_config_dict[ADAM_EPS] == tuned.adam_eps
    assert (config.entropy_coeff, config.grad_clip) == (tuned.entropy_coeff, tuned.grad_clip)
    assert config.lambda_ == tuned.lambda_
    assert config.env_config["time_limit_as_terminal"] is tuned.time_limit_as_terminal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(model="nope"), "unknown model 'nope'; valid: "),
        (dict(ppo="sb3"), "unknown ppo variant 'sb3'; valid: paper, tuned, rllib"),
        (dict(ppo="tuned", env="rllib_iam/Traffic-v0"), "no tuned PPO for rllib_iam/Traffic-v0"),
        (dict(ppo="tuned", ppo_overrides={"vf_clip": "min"}), "vf_clip must be one of"),
        (dict(env="CartPole-v1"), "unknown env 'CartPole-v1'; valid: .*rllib_iam/Warehouse-v0"),
        (dict(total_timesteps=0), "total_timesteps must be an integer >= 1"),
        (dict(num_envs=2, rollout_fragment_length=8), r"minibatch_size \(256\) must be <="),
        (dict(ppo_overrides={"adam": 1}), "unknown PPO setting 'adam'; valid: num_envs, "),
        (dict(ppo_overrides={"vf_clip": "min"}), "vf_clip must be one of max, clamp, none"),
        (dict(ppo_overrides={"num_epochs": 0}), "num_epochs must be an integer >= 1"),
        (dict(ppo_overrides={"lr": "fast"}), "lr must be a number >= 0"),
        (dict(ppo_overrides={"normalize_advantages": 1}), "must be true or false"),
        (dict(ppo="rllib", ppo_overrides={"lr": 1e-3}), "apply to the paper variant"),
        (dict(decay_over="never"), "decay_over must be paper or budget or an integer"),
        (dict(decay_over=0), "decay_over must be paper or budget or an integer"),
    ],
)
def test_ppo_config_rejects_bad_input(kwargs, message):
    from rllib_iam.training import ppo_config

    kwargs = {"model": "fnn", "total_timesteps": 1000, **kwargs}
    with pytest.raises(ValueError, match=message):
        ppo_config(kwargs.pop("model"), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("ppo", ["paper", "rllib"])
def test_one_training_iteration(ray_local, monkeypatch, ppo):
    """One iteration through a remote env runner: 2 envs x 120 steps, so each env's fragment
    holds a whole 100-step episode and the head of the next, which must reach the learner with
    its fragment position (100)."""
    import rllib_iam.ppo.gae as gae
    from rllib_iam.training import ppo_config

    phases_seen = []

    def spy(episode_lens, phases, horizon):
        phases_seen.extend(phases)
        return horizon_cuts(episode_lens, phases, horizon)

    monkeypatch.setattr(gae, "horizon_cuts", spy)
    config = ppo_config(
        "fnn",
        ppo=ppo,
        total_timesteps=2400,
        decay_over="budget",
        num_envs=2,
        rollout_fragment_length=120,
        minibatch_size=80,
        num_env_runners=1,
    )
    if ppo == "rllib":
        config.training(num_epochs=3)  # RLlib's 30 epochs only cost time here
    algo = config.build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    learner_results = result["learners"][DEFAULT_MODULE_ID]
    assert result["env_runners"][NUM_ENV_STEPS_SAMPLED_LIFETIME] == 240
    assert np.isfinite(learner_results["total_loss"])
    if ppo == "paper":
        assert sorted(phases_seen) == [0, 0, 100, 100]
        # 3 epochs of 240 transitions in minibatches of 80: 9 SGD steps, not RLlib's 10 (its
        # batch also holds one artificial row per episode chunk: 244 rows).
        assert learner_results[NUM_MODULE_STEPS_TRAINED] == 9 * 80
        # After one update of 240 transitions: 0.1 decayed 240 / 2400 of the way to 1e-5.
        assert learner_results["curr_clip_param"] == pytest.approx(
            0.1 + (1e-5 - 0.1) * 0.1, rel=1e-5
        )
    else:
        assert phases_seen == []  # RLlib's own GAE


def trained_weights(model: str, fast: bool, iterations: int = 2) -> tuple[dict, list]:
    from rllib_iam.training import ppo_config

    config = ppo_config(model, seed=4, total_timesteps=20_000, num_envs=4,
                        rollout_fragment_length=64, minibatch_size=64, stock_pieces=not fast)
    if not fast:
        assert config.env_runner_cls.__name__ == "SingleAgentEnvRunner"
    algo = config.build_algo()
    try:
        returns = [algo.train()["env_runners"].get("episode_return_mean")
                   for _ in range(iterations)]
        module = algo.learner_group._learner.module[DEFAULT_MODULE_ID]
        return {k: v.detach().clone() for k, v in module.state_dict().items()}, returns
    finally:
        algo.stop()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["iam", "fnn8"])
def test_the_fast_pieces_train_to_rllibs_weights_bit_for_bit(ray_local, model):
    """`LeanEnvRunner`, `ArrayZeroPad` and the fused gradient check against RLlib's stock env
    runner, padding connector and `apply_gradients`: 2 updates of 256 transitions (12 SGD
    steps each), an episode end crossed, the same weights to the last bit."""
    fast, fast_returns = trained_weights(model, fast=True)
    stock, stock_returns = trained_weights(model, fast=False)
    assert fast.keys() == stock.keys()
    assert all(torch.equal(fast[k], stock[k]) for k in fast), model
    assert fast_returns == stock_returns and fast_returns[-1] is not None


@pytest.mark.slow
def test_a_non_finite_gradient_takes_rllibs_own_path(ray_local, monkeypatch):
    from ray.rllib.core.learner.torch.torch_learner import TorchLearner

    from rllib_iam.training import ppo_config

    calls = []
    original = TorchLearner.apply_gradients
    monkeypatch.setattr(TorchLearner, "apply_gradients",
                        lambda self, grads: calls.append(len(grads)) or original(self, grads))
    algo = ppo_config("fnn", total_timesteps=1000).build_algo()
    try:
        learner = algo.learner_group._learner
        grads = {pid: torch.ones_like(p) for pid, p in learner._params.items()}
        learner.apply_gradients(grads)
        assert calls == []  # all finite: the fused check, no per-tensor checks
        first = next(iter(grads))
        grads[first] = torch.full_like(grads[first], float("nan"))
        learner.apply_gradients(grads)
        assert calls == [len(grads)]  # RLlib's path: it zeroes the nan gradient
        assert torch.equal(learner._params[first].grad, torch.zeros_like(grads[first]))
    finally:
        algo.stop()
