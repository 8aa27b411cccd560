"""`LeanEnvRunner`: RLlib's single-agent env runner without its per-step connector pipelines.

RLlib 2.60's `SingleAgentEnvRunner` runs two connector pipelines around every vector step:
env-to-module (read each episode's last observation and state, add a time axis, batch, make
tensors) and module-to-env (sample actions, make numpy, unbatch, drop the time axis, listify).
With the default pipelines these do fixed array work, but through generic per-episode Python:
for `iam` at the paper's 8 envs x 128 steps they cost 146 of the 258 ms of sampling
(docs/throughput.md). This runner does the same work on whole arrays and keeps everything else
of the stock runner: the same `SingleAgentEpisode` objects built by the same `add_env_reset` /
`add_env_step` calls with the same values, the same callbacks in the same order, the same
episode cutting, metrics and fault handling. Given the same seed it returns the same episodes
as the stock runner, value for value (tests/test_sampling.py checks it).

It takes the lean path only where that equivalence holds: sampling a number of timesteps with
exploration, RLlib's default connector pipelines (nothing user-added), a Discrete action space.
Everything else (`num_episodes`, `random_actions`, inference, custom connectors) goes to the
stock `_sample`. Both paths share the runner's cached module input, so they can alternate.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.connectors.common.add_observations_from_episodes_to_batch import (
    AddObservationsFromEpisodesToBatch,
)
from ray.rllib.connectors.common.add_states_from_episodes_to_batch import (
    AddStatesFromEpisodesToBatch,
)
from ray.rllib.connectors.common.add_time_dim_to_batch_and_zero_pad import (
    AddTimeDimToBatchAndZeroPad,
)
from ray.rllib.connectors.common.batch_individual_items import BatchIndividualItems
from ray.rllib.connectors.common.numpy_to_tensor import NumpyToTensor
from ray.rllib.connectors.common.tensor_to_numpy import TensorToNumpy
from ray.rllib.connectors.module_to_env.get_actions import GetActions
from ray.rllib.connectors.module_to_env.listify_data_for_vector_env import (
    ListifyDataForVectorEnv,
)
from ray.rllib.connectors.module_to_env.normalize_and_clip_actions import (
    NormalizeAndClipActions,
)
from ray.rllib.connectors.module_to_env.remove_single_ts_time_rank_from_batch import (
    RemoveSingleTsTimeRankFromBatch,
)
from ray.rllib.connectors.module_to_env.unbatch_to_individual_items import (
    UnBatchToIndividualItems,
)
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.env.env_runner import ENV_STEP_FAILURE
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils import force_list
from ray.rllib.utils.metrics import RLMODULE_INFERENCE_TIMER, WEIGHTS_SEQ_NO

from rllib_iam.ppo.gae import GAE_PHASE_KEY, FragmentPhase

STOCK_ENV_TO_MODULE = (
    AddObservationsFromEpisodesToBatch,
    AddTimeDimToBatchAndZeroPad,
    AddStatesFromEpisodesToBatch,
    BatchIndividualItems,
    NumpyToTensor,
)
"""RLlib 2.60's default env-to-module pipeline, the one `LeanEnvRunner` replaces."""

STOCK_MODULE_TO_ENV = (
    GetActions,
    TensorToNumpy,
    UnBatchToIndividualItems,
    RemoveSingleTsTimeRankFromBatch,
    NormalizeAndClipActions,
    ListifyDataForVectorEnv,
)
"""RLlib 2.60's default module-to-env pipeline, the one `LeanEnvRunner` replaces."""


def _types(pipeline: Any) -> tuple[type, ...]:
    return tuple(type(c) for c in getattr(pipeline, "connectors", ()))


class LeanEnvRunner(SingleAgentEnvRunner):
    """`SingleAgentEnvRunner` with the default connector pipelines done as array operations."""

    def lean(self) -> bool:
        """Whether this runner's setup is one the lean path reproduces exactly."""
        return (
            self.module is not None
            and _types(self._env_to_module) == STOCK_ENV_TO_MODULE
            and _types(self._module_to_env) == STOCK_MODULE_TO_ENV
            and isinstance(self.env.single_action_space, gym.spaces.Discrete)
        )

    def _sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[SingleAgentEpisode]:
        if num_timesteps is None or random_actions or not explore or not self.lean():
            return super()._sample(
                num_timesteps=num_timesteps,
                num_episodes=num_episodes,
                explore=explore,
                random_actions=random_actions,
                force_reset=force_reset,
            )
        if force_reset or self._needs_initial_reset:
            self._reset_envs_and_episodes(explore)
        # RLlib counts every env step in a Prometheus counter, one `inc` (~0.05-0.1 ms) per
        # step; here the steps of this call are tallied and added in one `inc` at the end.
        counter, tally = self._metrics_num_try_env_step, _Tally()
        self._metrics_num_try_env_step = tally
        try:
            return self._sample_lean(num_timesteps)
        finally:
            self._metrics_num_try_env_step = counter
            if tally.steps:
                self._log_env_steps(metric=counter, num_steps=tally.steps)

    def _sample_lean(self, num_timesteps: int) -> list[SingleAgentEpisode]:
        module = self.module
        dist_cls = module.get_exploration_action_dist_cls()
        categorical = dist_cls is TorchCategorical
        initial = module.get_initial_state()  # {} for feedforward modules
        runners = self.config.num_env_runners or 1
        to_module = self._cached_to_module
        step_callbacks = self._callables("on_episode_step")
        # Episodes are written once per episode end or fragment end (`_Pending`) where no
        # callback needs to see them step by step: none, or only `FragmentPhase`, whose one
        # write (a chunk's position in its env's fragment) `_Pending.flush` makes itself.
        phases = step_callbacks and all(
            isinstance(getattr(c, "__self__", None), FragmentPhase) for c in step_callbacks
        )
        pending = _Pending(self, bool(phases)) if phases or not step_callbacks else None
        env = self.env.unwrapped
        ts = 0
        done: list[SingleAgentEpisode] = []
        # RLlib's forward_exploration sets eval mode and restores the train flag around every
        # call; set once here, restored below (the same mode for every forward pass)
        was_training = module.training
        module.eval()
        try:
            while ts < num_timesteps:
                stateful = Columns.STATE_IN in to_module
                t = (self.num_env_steps_sampled_lifetime // runners + ts) * runners
                with self.metrics.log_time(RLMODULE_INFERENCE_TIMER):
                    out = module._forward_exploration(to_module, t=t)
                # GetActions, then TensorToNumpy and RemoveSingleTsTimeRankFromBatch on arrays
                if categorical:  # the same draws and numbers, without distribution objects
                    actions, logp = sample_categorical(out[Columns.ACTION_DIST_INPUTS])
                else:
                    dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
                    actions = dist.sample()
                    logp = dist.logp(actions)
                extra = {
                    Columns.ACTION_DIST_INPUTS: out[Columns.ACTION_DIST_INPUTS],
                    Columns.ACTION_LOGP: logp,
                    **{k: v for k, v in out.items() if k != Columns.ACTION_DIST_INPUTS},
                }
                extra, actions = _map(_numpy, extra), _numpy(actions)
                if stateful:  # drop the single-step time axis the env-to-module side added
                    extra = {
                        k: v if k == Columns.STATE_OUT else _map(lambda x: x[:, 0], v)
                        for k, v in extra.items()
                    }
                    actions = actions[:, 0]

                results = self._try_env_step(actions)
                if results is ENV_STEP_FAILURE:  # the stock runner's answer: start over
                    ts = 0
                    self._reset_envs_and_episodes(True)
                    to_module = self._cached_to_module
                    if pending is not None:
                        pending = _Pending(self, pending.phases)
                    continue
                observations, rewards, terminateds, truncateds, infos = results

                episodes = self._ongoing_episodes
                if pending is not None:
                    started, ended = pending.step(
                        observations, actions, rewards, terminateds, truncateds, infos, extra
                    )
                    ts += len(episodes) - len(started)
                else:
                    started, ended = [], []
                    rows = _unstack(extra, len(episodes))
                    for i, episode in enumerate(episodes):
                        if not episode.is_reset:  # NEXT_STEP autoreset: this row is a reset
                            episode.add_env_reset(observation=observations[i], infos=infos[i])
                            started.append(i)
                            continue
                        ts += 1
                        row = rows[i]
                        row[WEIGHTS_SEQ_NO] = self._weights_seq_no
                        episode.add_env_step(
                            observation=observations[i],
                            action=actions[i],
                            reward=rewards[i],
                            infos=infos[i],
                            terminated=terminateds[i],
                            truncated=truncateds[i],
                            extra_model_outputs=row,
                        )
                        if episode.is_done:
                            ended.append(i)

                # the env-to-module side: the new observations and, for recurrent modules, the
                # state each episode continues from (the initial state where one just began)
                to_module = {Columns.OBS: torch.from_numpy(np.stack(observations))}
                if stateful:
                    to_module[Columns.OBS] = to_module[Columns.OBS].unsqueeze(1)
                    state = extra[Columns.STATE_OUT]
                    if started:
                        state = _restart(state, initial, started)
                    to_module[Columns.STATE_IN] = _map(torch.from_numpy, state)

                # with `pending`, only starts and ends have callbacks to run
                calls = sorted({*started, *ended}) if pending is not None else range(len(episodes))
                for i in calls:
                    if i in started:
                        self._make_on_episode_callback("on_episode_start", i, episodes)
                    elif pending is None:  # `_make_on_episode_callback`'s call, less overhead
                        for callback in step_callbacks:
                            callback(
                                episode=episodes[i],
                                env_runner=self,
                                metrics_logger=self.metrics,
                                env=env,
                                rl_module=module,
                                env_index=i,
                            )
                    if i in ended:
                        if pending is not None:
                            pending.flush(i)
                        self._make_on_episode_callback("on_episode_end", i, episodes)
                        episode = episodes[i]
                        done.append(episode.to_numpy() if self.episodes_to_numpy else episode)
                        self._new_episode(i, episodes)
        finally:
            if was_training:
                module.train()

        if pending is not None:
            for i in range(len(self._ongoing_episodes)):
                pending.flush(i)
        self._cached_to_module = to_module
        return self._finish_chunks(done, ts)

    def _callables(self, which: str) -> list[Any]:
        """What `make_callback(which, ...)` would call, in its order, less the base class's
        no-ops: `on_episode_step` runs once per env per step, and the calls add up."""
        base = getattr(RLlibCallback, which)
        methods = [
            getattr(cb, which)
            for cb in force_list(self._callbacks)
            if getattr(type(cb), which, base) is not base
        ]
        return methods + force_list(getattr(self.config, f"callbacks_{which}", None))

    def _finish_chunks(
        self, done: list[SingleAgentEpisode], ts: int
    ) -> list[SingleAgentEpisode]:
        """Cut every ongoing episode (its continuation keeps collecting) and log the counts."""
        self._done_episodes_for_metrics.extend(done)
        chunks = []
        continuations = []
        for episode in self._ongoing_episodes:
            continuations.append(episode.cut(len_lookback_buffer=self.config.episode_lookback_horizon))
            if episode.t == 0:  # just begun: nothing in it yet
                continue
            episode.validate()
            self._ongoing_episodes_for_metrics[episode.id_].append(episode)
            chunks.append(episode.to_numpy() if self.episodes_to_numpy else episode)
        self._ongoing_episodes = continuations
        self._log_env_steps(metric=self._metrics_num_env_steps_sampled, num_steps=ts)
        self._increase_sampled_metrics(ts, len(done))
        return done + chunks


class _Pending:
    """The steps of one `sample()` call not yet written into their episodes.

    Every vector step is kept as the env's and the module's batched arrays; an episode gets its
    steps in one write per buffer when it ends or the fragment does (`flush`), the values
    `SingleAgentEpisode.add_env_step` would have appended one at a time (the same rows of the
    same arrays). With `phases`, `flush` also records what `FragmentPhase` records at a chunk's
    first step: that step's position in its env's fragment.
    """

    def __init__(self, runner: LeanEnvRunner, phases: bool) -> None:
        self.runner = runner
        self.phases = phases
        self.steps: list[tuple] = []
        n = len(runner._ongoing_episodes)
        self.first = [0] * n  # per env: the first step of this call not yet in its episode
        self.resets = [0] * n  # per env: reset rows so far (they are not transitions)

    def step(self, observations: Any, actions: np.ndarray, rewards: Any, terminateds: Any,
             truncateds: Any, infos: list, extra: dict) -> tuple[list[int], list[int]]:
        """Keeps one vector step; returns the envs whose row was a reset (their new episode
        gets it now, as in the stock runner) and those whose episode ended at this step."""
        k = len(self.steps)
        self.steps.append((observations, actions, rewards, infos, extra, terminateds,
                           truncateds))
        started = []
        episodes = self.runner._ongoing_episodes
        for i, episode in enumerate(episodes):
            if not episode.is_reset:  # NEXT_STEP autoreset: this row is a reset
                episode.add_env_reset(observation=observations[i], infos=infos[i])
                started.append(i)
                self.first[i] = k + 1
                self.resets[i] += 1
        done = np.logical_or(terminateds, truncateds)
        ended = [int(i) for i in np.flatnonzero(done) if i not in started]
        return started, ended

    def flush(self, i: int) -> None:
        """Writes env `i`'s kept steps into its ongoing episode."""
        first, last = self.first[i], len(self.steps)
        if last <= first:
            return
        self.first[i] = last
        episode = self.runner._ongoing_episodes[i]
        steps = self.steps[first:last]
        if self.phases and len(episode) == 0:  # FragmentPhase.on_episode_step's write
            # its position in the env's fragment: steps so far less the env's reset rows,
            # all of which came before (a reset follows an end, and an end flushes)
            episode.custom_data[GAE_PHASE_KEY] = first - self.resets[i]
        observations = [s[0][i] for s in steps]
        infos = [s[3][i] for s in steps]
        rows = [_map(lambda a, i=i: a[i], s[4]) for s in steps]  # row i of each step
        seq_no = self.runner._weights_seq_no
        buffers = (episode.observations, episode.actions, episode.rewards, episode.infos)
        if any(b.finalized for b in buffers) or any(
            b.finalized for b in episode.extra_model_outputs.values()
        ):  # numpy buffers: RLlib's own appends
            for (obs, action, reward, info, *_), row in zip(steps, rows, strict=True):
                row[WEIGHTS_SEQ_NO] = seq_no
                episode.add_env_step(observation=obs[i], action=action[i], reward=reward[i],
                                     infos=info[i], terminated=False, truncated=False,
                                     extra_model_outputs=row)
        else:
            episode.observations.data.extend(observations)
            episode.actions.data.extend([s[1][i] for s in steps])
            episode.rewards.data.extend([s[2][i] for s in steps])
            episode.infos.data.extend([info or {} for info in infos])
            for row in rows:
                row[WEIGHTS_SEQ_NO] = seq_no
            for key in rows[0]:
                values = [row[key] for row in rows]
                if key in episode.extra_model_outputs:
                    episode.extra_model_outputs[key].data.extend(values)
                else:
                    episode.extra_model_outputs[key] = InfiniteLookbackBuffer(values)
            episode.t += len(steps)
            episode._last_added_observation = observations[-1]
            episode._last_added_infos = infos[-1] or {}
            episode._last_step_time = time.perf_counter()
            if episode._start_time is None:
                episode._start_time = episode._last_step_time
        # the flags of the last step, as add_env_step leaves them
        episode.is_terminated, episode.is_truncated = steps[-1][5][i], steps[-1][6][i]


class _Tally:
    """Stands in for RLlib's env-step Prometheus counter during one `_sample` call."""

    def __init__(self) -> None:
        self.steps = 0

    def inc(self, value: int = 1, tags: dict | None = None) -> None:
        self.steps += value


# Plain recursive helpers over (nested) dicts of arrays: dm-tree's generic walk cost more than
# the module's forward pass here.
def _map(fn: Any, x: Any) -> Any:
    """`fn` applied to every array of a (nested) dict, or to `x` itself."""
    if isinstance(x, dict):
        return {k: _map(fn, v) for k, v in x.items()}
    return fn(x)


def _unstack(x: Any, n: int) -> list[Any]:
    """A (nested) dict of batched arrays -> its `n` rows, each a dict of the same form
    holding the arrays' row views (``_map(lambda a: a[i], x)`` for every i, in one pass)."""
    if isinstance(x, dict):
        columns = [_unstack(v, n) for v in x.values()]
        if not columns:
            return [{} for _ in range(n)]
        return [dict(zip(x, values, strict=True)) for values in zip(*columns, strict=True)]
    return list(x)


def sample_categorical(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`TorchCategorical.from_logits(logits)`'s `sample()` and the sample's `logp`, by the
    operations `torch.distributions.Categorical` runs (normalised logits, softmax, one
    `torch.multinomial` draw per row, gather): the same actions from the same torch stream and
    the same log-probabilities, without two distribution objects per env step."""
    normalized = logits - logits.logsumexp(dim=-1, keepdim=True)
    probs = torch.softmax(normalized, dim=-1)
    n = normalized.shape[-1]
    actions = torch.multinomial(probs.reshape(-1, n), 1, True).T.reshape(normalized.shape[:-1])
    index = actions.long().unsqueeze(-1)
    index, log_pmf = torch.broadcast_tensors(index, normalized)
    return actions, log_pmf.gather(-1, index[..., :1]).squeeze(-1)


def _numpy(x: torch.Tensor) -> np.ndarray:
    """A tensor to numpy as RLlib's TensorToNumpy does (int64 -> int32, float64 -> float32)."""
    a = x.detach().cpu().numpy()
    if a.dtype == np.float64:
        return a.astype(np.float32)
    if a.dtype == np.int64:
        return a.astype(np.int32)
    return a


def _restart(state: Any, initial: Any, rows: list[int]) -> Any:
    """A copy of batched `state` with `rows` set to the module's initial state."""
    if isinstance(state, dict):
        return {k: _restart(v, initial[k], rows) for k, v in state.items()}
    state = state.copy()
    state[rows] = initial
    return state
