"""Truncated GAE: advantages cut and bootstrapped every `horizon` steps inside a rollout.

The reference PPO (the authors' TF1 code) runs GAE not over the whole 128-step rollout of an
environment but over consecutive slices of `time_horizon` = 8 steps of it: at the end of each
slice it bootstraps with V(next observation) and restarts the backward recursion. Episode ends
inside a slice still cut, without a bootstrap.

RLlib's learner pipeline already has the machinery for "cut here, bootstrap with V(s_{t+1})":
`AddOneTsToEpisodesAndTruncate` appends one artificial timestep to every episode chunk and marks
the chunk's last real step `truncated`, and `compute_value_targets` stops the recursion at every
`truncated` step while keeping the bootstrap. `TruncatedGAE` replaces RLlib's
`GeneralAdvantageEstimation` piece and only adds more `truncated` marks: one at the end of each
`horizon`-step slice of an environment's rollout fragment.

Where a slice starts needs the step's position inside its environment's fragment, which an
episode chunk alone does not know (an environment's fragment can hold the tail of one episode,
whole episodes and the head of the next). `FragmentPhase`, an env-runner callback, writes that
position for a chunk's first step into `episode.custom_data[GAE_PHASE_KEY]`; without it a chunk
is treated as starting a slice (with a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.connectors.common.numpy_to_tensor import NumpyToTensor
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets
from ray.rllib.utils.postprocessing.zero_padding import unpad_data_if_necessary

from rllib_iam.ppo.padding import split_and_zero_pad_episodes

logger = logging.getLogger(__name__)

GAE_PHASE_KEY = "gae_fragment_position"
"""`custom_data` key: position of an episode chunk's first step inside its env's fragment."""


def horizon_cuts(episode_lens: Sequence[int], phases: Sequence[int], horizon: int) -> np.ndarray:
    """Flags marking the last step of every `horizon`-step slice, over concatenated chunks.

    Args:
        episode_lens: length of each chunk *including* RLlib's one artificial timestep at its end
            (as the chunks are when the learner pipeline reaches the GAE piece).
        phases: position of each chunk's first real step inside its env's rollout fragment.
        horizon: the slice length (the reference's "time horizon").

    Returns:
        A bool array of length `sum(episode_lens)`; True where a slice ends. The artificial steps
        are never flagged.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    cuts = []
    for n, phase in zip(episode_lens, phases, strict=True):
        position = phase + np.arange(n - 1)
        cuts.append((position + 1) % horizon == 0)
        cuts.append(np.zeros(1, dtype=bool))
    return np.concatenate(cuts) if cuts else np.zeros(0, dtype=bool)


def truncated_gae(
    *,
    values: np.ndarray,
    rewards: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    episode_lens: Sequence[int],
    phases: Sequence[int],
    horizon: int | None,
    gamma: float,
    lambda_: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and value targets with GAE restarted at every slice end.

    All arrays are flat over the concatenated chunks, each ending in RLlib's artificial timestep
    (whose own outputs are garbage and masked out of the loss). `horizon=None` is plain GAE.

    Returns:
        `(advantages, value_targets)`, both float32 of the input length.
    """
    cut = np.asarray(truncateds, dtype=bool)
    if horizon is not None:
        cut = cut | horizon_cuts(episode_lens, phases, horizon)
    targets = compute_value_targets(
        values=values,
        rewards=rewards,
        terminateds=np.asarray(terminateds, dtype=np.float32),
        truncateds=cut.astype(np.float32),
        gamma=gamma,
        lambda_=lambda_,
    )
    return (targets - values).astype(np.float32), targets


class TruncatedGAE(ConnectorV2):
    """Learner connector piece: truncated GAE, in place of RLlib's `GeneralAdvantageEstimation`.

    Like RLlib's piece it runs last in the learner pipeline, evaluates the value function once on
    the whole batch (artificial timesteps included) and writes `Postprocessing.ADVANTAGES` and
    `Postprocessing.VALUE_TARGETS`. It also writes those values under `Columns.VF_PREDS`: they
    are the pre-update ("old") predictions PPO2's value clipping needs. Advantages are
    standardised only when `normalize_advantages` is set (the reference did not).
    """

    def __init__(
        self,
        input_observation_space: Any = None,
        input_action_space: Any = None,
        *,
        gamma: float,
        lambda_: float,
        horizon: int | None,
        normalize_advantages: bool = False,
    ) -> None:
        super().__init__(input_observation_space, input_action_space)
        if horizon is not None and horizon < 1:
            raise ValueError(f"gae horizon must be None or >= 1, got {horizon}")
        self.gamma = gamma
        self.lambda_ = lambda_
        self.horizon = horizon
        self.normalize_advantages = normalize_advantages
        self._numpy_to_tensor = None
        self._warned_no_phase = False

    def __call__(self, *, rl_module: Any, episodes: list, batch: dict, **kwargs: Any) -> dict:
        sa_episodes = list(
            self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False)
        )
        with torch.no_grad():  # targets and old values only: no graph over the whole batch
            vf_preds = rl_module.foreach_module(
                func=lambda mid, module: (
                    module.compute_values(batch[mid])
                    if mid in batch and isinstance(module, ValueFunctionAPI)
                    else None
                ),
                return_dict=True,
            )
        device = None
        for module_id, module_vf_preds in vf_preds.items():
            if module_vf_preds is None:
                continue
            module = rl_module[module_id]
            device = module_vf_preds.device
            module_batch = batch[module_id]
            chunks = [e for e in sa_episodes if e.module_id in (None, module_id)]
            lens = [len(e) for e in chunks]
            phases = [e.custom_data.get(GAE_PHASE_KEY) for e in chunks]
            if self.horizon is not None and None in phases and not self._warned_no_phase:
                self._warned_no_phase = True
                logger.warning(
                    "episode chunks without a fragment position: truncated GAE slices them "
                    "from their own start. Keep rllib_iam.ppo.FragmentPhase in config.callbacks "
                    "to slice each env's fragment as the reference did."
                )

            def flat(x: Any, lens: list[int] = lens) -> np.ndarray:
                return unpad_data_if_necessary(lens, convert_to_numpy(x))

            values = flat(module_vf_preds)
            advantages, targets = truncated_gae(
                values=values,
                rewards=flat(module_batch[Columns.REWARDS]),
                terminateds=flat(module_batch[Columns.TERMINATEDS]),
                truncateds=flat(module_batch[Columns.TRUNCATEDS]),
                episode_lens=lens,
                phases=[0 if p is None else p for p in phases],
                horizon=self.horizon,
                gamma=self.gamma,
                lambda_=self.lambda_,
            )
            if self.normalize_advantages:
                advantages = (advantages - advantages.mean()) / max(1e-4, advantages.std())
            columns = {
                Postprocessing.ADVANTAGES: advantages,
                Postprocessing.VALUE_TARGETS: targets,
                Columns.VF_PREDS: values.astype(np.float32),
            }
            if module.is_stateful():
                max_seq_len = module.model_config["max_seq_len"]
                columns = {
                    k: np.stack(split_and_zero_pad_episodes(v, lens, max_seq_len), axis=0)
                    for k, v in columns.items()
                }
            module_batch.update(columns)

        if self._numpy_to_tensor is None:
            self._numpy_to_tensor = NumpyToTensor(as_learner_connector=True, device=device)
        keys = (Postprocessing.ADVANTAGES, Postprocessing.VALUE_TARGETS, Columns.VF_PREDS)
        tensors = self._numpy_to_tensor(
            rl_module=rl_module,
            batch={
                mid: {k: batch[mid][k] for k in keys}
                for mid, preds in vf_preds.items()
                if preds is not None
            },
            episodes=episodes,
        )
        for mid, module_batch in tensors.items():
            batch[mid].update(module_batch)
        return batch


class FragmentPhase(RLlibCallback):
    """Env-runner callback: records where each episode chunk starts inside its env's fragment.

    Counts the transitions of every sub-environment since the last `sample()` returned (resets
    are not transitions) and stores the position of a chunk's first step under
    `GAE_PHASE_KEY`, so `TruncatedGAE` slices each environment's fragment into consecutive
    `horizon`-step pieces as the reference did, whatever the episode boundaries.
    """

    def __init__(self) -> None:
        super().__init__()
        self._position: dict[int, int] = {}

    def on_episode_step(self, *, episode: Any, env_index: int, **kwargs: Any) -> None:
        position = self._position.get(env_index, 0)
        if len(episode) == 1:
            episode.custom_data[GAE_PHASE_KEY] = position
        self._position[env_index] = position + 1

    def on_sample_end(self, **kwargs: Any) -> None:
        self._position.clear()
