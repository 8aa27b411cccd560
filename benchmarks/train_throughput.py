"""End-to-end PPO training throughput: this project's pipeline against stock RLlib and a lean
plain-torch bound.

Run (one process, one run; prints Markdown tables; 5-10 minutes on a 2-core VM):

    .venv/bin/python benchmarks/train_throughput.py
    .venv/bin/python benchmarks/train_throughput.py --models iam,fnn --ppo tuned --iterations 20
    .venv/bin/python benchmarks/train_throughput.py --layouts 8x128,64x16  # paper's work, 2 layouts

For every model and PPO variant (``paper``: each ``--layouts`` ``NxT``, N envs per env runner and
T steps each; ``tuned``: its own 32x32 with 10 epochs of minibatches of 64) three pipelines are
built side by side in this process (one torch thread, no remote actors), warmed up ``--warmup``
updates each, then timed over ``--iterations`` rounds of one update each, round-robin with the
order rotating, so that a slow spell of a shared machine hits all three. Rates are transitions
per update / the median update time; the ratios are medians of the per-round ratios; the split
columns are medians per part.

- **project**: ``ppo_config(model, ppo=..., num_envs=N, rollout_fragment_length=T)
  .build_algo()``, timed around ``algo.train()``. The split (sampling, learner update, weight
  sync, the rest of ``train()``) comes from the result's ``timers``; RLlib smooths those with an
  EMA (coefficient 0.01), which is inverted here to get each iteration's own time. Inside
  sampling: env step, module forward, env-to-module and module-to-env connectors (the env
  runner's per-call timers, times the vector steps per update) and the remainder (episode
  bookkeeping; for the project's `LeanEnvRunner`, which runs no connector pipelines, also its
  action sampling and array conversions, so its two connector columns are 0). Inside the
  learner update: the learner connector (GAE with its value pass, time-dim padding) and the
  rest (SGD).
- **stock**: ``PPOConfig().environment("rllib_iam/Warehouse-v0")`` with gymnasium's sync vector
  env over per-copy envs (``gym_env_vectorize_mode="sync"``), RLlib's default model (LSTM 256
  after a 256x256 MLP, ``use_lstm=True``, for the recurrent models; the default 256x256 MLP
  for ``fnn``/``fnn8``), the default learner and PPO settings, except what makes the work
  comparable: the variant's transitions per update, minibatch size and epochs, and
  ``max_seq_len=8`` (default 20). ``--stock-widths model`` gives stock's MLP the feedforward
  model's own hidden widths and ReLU instead, so that the two learners do the same matrix work;
  ``--stock-model lstm`` measures every model against stock's default ``use_lstm`` model.
- **lean**: the same PPO work as tightly as plain torch writes it (`LeanPipeline` says what is
  in it: the model's own layers called directly, preallocated arrays, values from the sampling
  pass, minibatches by index, the loss written out, torch's fused Adam); no RLlib. It is the
  yardstick of the issue's target (project >= 0.9x lean). The last column is the SGD steps'
  achieved GFLOP/s, project / lean: forward + backward (3x the forward's multiply-adds,
  `forward_flops`) of every row in every epoch, over the SGD time (project: the learner update
  less its connector; lean: its whole learning step, GAE included).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shlex
import statistics
import sys
import time
import warnings

try:
    import rllib_iam  # noqa: F401
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import numpy as np
import ray
import torch
from machine import cpu_name
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import ALL_MODULES
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils.metrics import (
    CONNECTOR_PIPELINE_TIMER,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    ENV_STEP_TIMER,
    ENV_TO_MODULE_CONNECTOR,
    LEARNER_CONNECTOR,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    MODULE_TO_ENV_CONNECTOR,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    RLMODULE_INFERENCE_TIMER,
    SYNCH_ENV_CONNECTOR_STATES_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from rllib_iam import WAREHOUSE_ID
from rllib_iam.envs.warehouse import WarehouseVectorEnv
from rllib_iam.models import MODELS, build_module, env_config_for
from rllib_iam.training import PAPER_PPO, PaperPPO, ppo_config, ppo_settings

EMA_COEFF = 0.01
"""RLlib's default EMA coefficient for `MetricsLogger.log_time` (reduce="ema")."""
BLOG_TRANSITIONS = 4_000_000
"""One `blog` trial (rllib_iam.grid PROFILES["blog"])."""
BIG = 10**9
"""total_timesteps for the project's schedules: far beyond the run, so lr/ε stay ~constant."""


class AlgoPipeline:
    """An RLlib algorithm (project or stock), one `train()` per `step()`."""

    def __init__(self, config: PPOConfig, num_envs: int) -> None:
        self.algo = config.build_algo()
        self.num_envs = num_envs
        self.prev: dict = {}
        self.fresh = True

    def start_timing(self) -> None:
        """Restart the env runner's per-step EMAs, so the warm-up's first calls (lazy setup,
        seconds) don't linger in them."""
        for path in STEP_TIMERS.values():
            self.algo.env_runner.metrics.delete(*path[1:], key_error=False)
        self.fresh = True

    def step(self) -> dict[str, float]:
        """One iteration: its wall time, transitions, and RLlib's split of it."""
        start = time.perf_counter()
        result = self.algo.train()
        wall = time.perf_counter() - start
        prev, self.prev = self.prev, result
        parts = {
            name: unsmooth(dig(prev, *path), dig(result, *path))
            for name, path in ALGO_TIMERS.items()
        }
        lifetime = (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)
        transitions = dig(result, *lifetime) - (dig(prev, *lifetime) or 0.0)
        vector_steps = transitions / self.num_envs
        for name, path in STEP_TIMERS.items():
            before = None if self.fresh else dig(prev, *path)
            parts[name] = unsmooth(before, dig(result, *path), vector_steps) * vector_steps
        self.fresh = False
        parts["sync"] += parts.pop("sync_connectors")
        parts["other"] = wall - parts["sample"] - parts["learn"] - parts["sync"]
        parts["sgd"] = parts["learn"] - parts["learner_connector"]
        parts["wall"], parts["transitions"] = wall, transitions
        return parts

    def close(self) -> None:
        self.algo.stop()


def dig(result: dict, *path: str) -> float | None:
    """A nested value of a result dict, or None if absent."""
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return float(result)


def unsmooth(prev: float | None, cur: float | None, pushes: float = 1) -> float:
    """The mean value pushed into an EMA that went from `prev` to `cur` in `pushes` pushes.

    Exact for one push; for several, the EMA-weighted mean of the pushed values (recent ones
    weigh a little more). No `prev`: the EMA started within these pushes; `cur` is the answer.
    """
    if cur is None or math.isnan(cur):  # never pushed (LeanEnvRunner runs no connectors)
        return 0.0
    if prev is None or math.isnan(prev):
        return cur
    keep = (1 - EMA_COEFF) ** pushes
    return (cur - keep * prev) / (1 - keep)


ALGO_TIMERS = {
    "sample": (TIMERS, ENV_RUNNER_SAMPLING_TIMER),
    "learn": (TIMERS, LEARNER_UPDATE_TIMER),
    "sync": (TIMERS, SYNCH_WORKER_WEIGHTS_TIMER),
    "sync_connectors": (TIMERS, SYNCH_ENV_CONNECTOR_STATES_TIMER),
    "learner_connector": (
        LEARNER_RESULTS,
        ALL_MODULES,
        LEARNER_CONNECTOR,
        CONNECTOR_PIPELINE_TIMER,
    ),
}
"""Timers pushed once per iteration: their EMAs can be inverted exactly."""
STEP_TIMERS = {
    "env_step": (ENV_RUNNER_RESULTS, ENV_STEP_TIMER),
    "inference": (ENV_RUNNER_RESULTS, RLMODULE_INFERENCE_TIMER),
    "env_to_module": (ENV_RUNNER_RESULTS, ENV_TO_MODULE_CONNECTOR, CONNECTOR_PIPELINE_TIMER),
    "module_to_env": (ENV_RUNNER_RESULTS, MODULE_TO_ENV_CONNECTOR, CONNECTOR_PIPELINE_TIMER),
}
"""Env-runner timers pushed once per vector step: EMAs over the last ~100 calls, times the
vector steps of the iteration."""


def project_config(
    model: str, ppo: str, num_envs: int, steps: int, seed: int, overrides: dict | None = None
) -> PPOConfig:
    return ppo_config(
        model,
        ppo=ppo,
        ppo_overrides=overrides,
        seed=seed,
        total_timesteps=BIG,
        num_envs=num_envs,
        rollout_fragment_length=steps,
    )


def is_recurrent(model: str) -> bool:
    return build_module(model).is_stateful()


def stock_kind(model: str, stock_model: str = "matched") -> tuple[str, dict]:
    """The stock row a model is compared with: (label, env_config). ``stock_model="matched"``:
    RLlib's default LSTM for the recurrent models, its default MLP for the feedforward ones;
    ``"lstm"``: the default LSTM for every model (one stock pipeline for all)."""
    kind = "lstm" if stock_model == "lstm" or is_recurrent(model) else "mlp"
    return kind, env_config_for(model)


def stock_model_config(model: str, kind: str, widths: str = "default") -> DefaultModelConfig:
    """Stock's model for `model` of stock kind `kind` (`stock_kind`): RLlib's default LSTM for
    the recurrent models; for the feedforward ones RLlib's default MLP (``widths="default"``)
    or, with ``widths="model"``, an MLP of the model's own hidden widths and activation (ReLU),
    so both learners do the same matrix work."""
    if kind == "lstm":
        return DefaultModelConfig(use_lstm=True, max_seq_len=PAPER_PPO.max_seq_len)
    if widths == "model":
        hiddens = list(build_module(model).model_config["fnn_hiddens"])
        return DefaultModelConfig(fcnet_hiddens=hiddens, fcnet_activation="relu")
    return DefaultModelConfig()


def stock_config(
    model: str,
    p: PaperPPO,
    seed: int,
    widths: str = "default",
    stock_model: str = "matched",
) -> PPOConfig:
    """Stock RLlib doing the update `p` describes: its transitions, minibatch and epochs."""
    num_envs, steps = p.num_envs, p.rollout_fragment_length
    kind, env_config = stock_kind(model, stock_model)
    model_config = stock_model_config(model, kind, widths)
    return (
        PPOConfig()
        .environment(WAREHOUSE_ID, env_config=env_config)
        .env_runners(
            num_env_runners=0,
            num_envs_per_env_runner=num_envs,
            rollout_fragment_length=steps,
            gym_env_vectorize_mode="sync",
        )
        .training(
            train_batch_size_per_learner=num_envs * steps,
            minibatch_size=p.minibatch_size,
            num_epochs=p.num_epochs,
        )
        .rl_module(model_config=model_config)
        .debugging(seed=seed)
    )


# ------------------------------------------------------------------------------ lean bound
def truncated_gae(
    rewards: np.ndarray, dones: np.ndarray, values: np.ndarray, last: np.ndarray, p: PaperPPO
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and targets for (T, N) arrays, cut and bootstrapped every `gae_horizon`."""
    steps = len(rewards)
    next_values = np.concatenate([values[1:], last[None]], 0) * (1.0 - dones)
    deltas = rewards + p.gamma * next_values - values
    decay = p.gamma * p.lambda_ * (1.0 - dones)
    adv = np.zeros_like(rewards)
    carry = np.zeros_like(last)
    for t in reversed(range(steps)):
        if (t + 1) % p.gae_horizon == 0:
            carry = np.zeros_like(last)
        carry = deltas[t] + decay[t] * carry
        adv[t] = carry
    return adv, adv + values


def forward_flops(module) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass of one row (one time step): every
    `nn.Linear` and every LSTM/GRU step of the module, each applied once per step in the zoo's
    vector-observation models (the trunk or trunks and the two heads)."""
    flops = 0
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            flops += 2 * layer.in_features * layer.out_features
        elif isinstance(layer, (torch.nn.LSTM, torch.nn.GRU)):
            gates = 4 if isinstance(layer, torch.nn.LSTM) else 3
            flops += 2 * gates * layer.hidden_size * (layer.input_size + layer.hidden_size)
    return flops


class LeanPipeline:
    """The lean bound: the same PPO work as the project's pipeline, as tightly as plain torch
    writes it, one update per step.

    In it: the model's own layers (its trunk and heads, called directly: no column dicts, no
    RLModule API), the native numpy vector env; sampling under `torch.inference_mode` into
    preallocated arrays, actions by `torch.multinomial` over the softmax, log-probabilities by
    `log_softmax` and a gather, the values taken from the same forward pass (no separate value
    pass); truncated GAE in numpy; `num_epochs` passes of minibatches taken by index from one
    tensor per column (recurrent: sequences of `max_seq_len` steps of one env, state at each
    sequence start from the rollout, run through episode ends without a cut); the PPO2 loss
    (clipped ratio, max of clipped and unclipped value errors, entropy) written out; the
    gradient clip with `clip_grad_norm_(foreach=True)` where the settings clip; Adam with
    torch's fused kernel. Not in it: anything RLlib does beyond the arithmetic (episodes,
    connectors, the learner's metrics, Tune). Autoreset steps (1 in 100) count as transitions.
    """

    def __init__(self, model: str, p: PaperPPO, seed: int) -> None:
        torch.manual_seed(seed)
        self.p = p
        self.module = build_module(model)
        self.module.train()
        self.recurrent = self.module.is_stateful()
        if self.module.critic_trunk is not None:
            raise ValueError("the lean bound runs shared-trunk models only")
        self.env = WarehouseVectorEnv(
            p.num_envs, time_limit_as_terminal=True, **env_config_for(model)
        )
        self.optimizer = torch.optim.Adam(
            self.module.parameters(), lr=p.lr, eps=p.adam_eps, fused=True
        )
        self.flops_per_row = forward_flops(self.module)
        self.obs, _ = self.env.reset(seed=seed)
        n = p.num_envs
        self.state = {k: torch.zeros(n, *np.shape(v))
                      for k, v in self.module.trunk.initial_state().items()}

    def heads(self, obs: torch.Tensor, state: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Logits and values of (B, T, obs) rows (feedforward: any leading dims)."""
        module = self.module
        features, state = module.trunk(obs, state)
        return module.policy_head(features), module.value_head(features).squeeze(-1), state

    def step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        rollout = self.sample()
        t1 = time.perf_counter()
        self.learn(*rollout)
        t2 = time.perf_counter()
        n = self.p.num_envs * self.p.rollout_fragment_length
        # its learning is GAE (numpy, a few ms) and the SGD steps: "sgd" is all of it
        return {"wall": t2 - t0, "transitions": n, "sample": t1 - t0, "learn": t2 - t1,
                "sgd": t2 - t1}

    def sample(self):
        p, recurrent = self.p, self.recurrent
        n, steps = p.num_envs, p.rollout_fragment_length
        obs_buf = np.zeros((steps, *self.obs.shape), np.float32)
        act_buf = np.zeros((steps, n), np.int64)
        logp_buf = np.zeros((steps, n), np.float32)
        val_buf = np.zeros((steps, n), np.float32)
        rew_buf = np.zeros((steps, n), np.float32)
        done_buf = np.zeros((steps, n), np.float32)
        seq_states = []
        with torch.inference_mode():
            for t in range(steps):
                obs_buf[t] = self.obs
                x = torch.from_numpy(obs_buf[t])
                if recurrent:
                    if t % p.max_seq_len == 0:
                        seq_states.append(self.state)
                    logits, values, state = self.heads(x[:, None], self.state)
                    logits, values = logits[:, 0], values[:, 0]
                else:
                    logits, values, _ = self.heads(x, {})
                log_probs = torch.log_softmax(logits, -1)
                actions = torch.multinomial(log_probs.exp(), 1)
                logp_buf[t] = log_probs.gather(-1, actions)[:, 0].numpy()
                act_buf[t] = actions[:, 0].numpy()
                val_buf[t] = values.numpy()
                self.obs, reward, terminated, truncated, _ = self.env.step(act_buf[t])
                rew_buf[t] = reward
                done_buf[t] = terminated | truncated
                if recurrent:
                    keep = torch.from_numpy(1.0 - done_buf[t])[:, None]
                    self.state = {k: v * keep for k, v in state.items()}
            x = torch.from_numpy(np.asarray(self.obs, np.float32))
            if recurrent:
                last = self.heads(x[:, None], self.state)[1][:, 0].numpy()
            else:
                last = self.heads(x, {})[1].numpy()
        return obs_buf, act_buf, logp_buf, val_buf, rew_buf, done_buf, last, seq_states

    def learn(self, obs_buf, act_buf, logp_buf, val_buf, rew_buf, done_buf, last, seq_states):
        p, seq = self.p, self.p.max_seq_len
        adv, targets = truncated_gae(rew_buf, done_buf, val_buf, last, p)
        if p.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        if self.recurrent:  # (T, N, ...) -> (N * T/seq, seq, ...): each env's sequences

            def rows(a):
                a = np.ascontiguousarray(np.swapaxes(a, 0, 1))
                return torch.from_numpy(a.reshape(-1, seq, *a.shape[2:]))

            # T/seq states of (N, H) -> (N * T/seq, H), env-major like `rows`
            state_in = {k: torch.stack([s[k] for s in seq_states], 1).flatten(0, 1)
                        for k in seq_states[0]}
        else:

            def rows(a):
                return torch.from_numpy(np.ascontiguousarray(a).reshape(-1, *a.shape[2:]))

            state_in = {}
        obs, actions, old_logp, old_values, adv, targets = (
            rows(a) for a in (obs_buf, act_buf, logp_buf, val_buf, adv, targets))
        params = [q for q in self.module.parameters()]
        per_minibatch = p.minibatch_size // (seq if self.recurrent else 1)
        clip = p.clip_param
        for _ in range(p.num_epochs):
            order = torch.randperm(len(obs))
            for i in range(0, len(obs), per_minibatch):
                idx = order[i : i + per_minibatch]
                logits, values, _ = self.heads(obs[idx], {k: v[idx] for k, v in state_in.items()})
                log_probs = torch.log_softmax(logits, -1)
                logp = log_probs.gather(-1, actions[idx].unsqueeze(-1)).squeeze(-1)
                entropy = -(log_probs.exp() * log_probs).sum(-1)
                ratio = torch.exp(logp - old_logp[idx])
                a = adv[idx]
                policy = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
                v_old, target = old_values[idx], targets[idx]
                clipped = v_old + (values - v_old).clamp(-clip, clip)
                value = torch.max((values - target) ** 2, (clipped - target) ** 2).mean()
                loss = policy + p.vf_loss_coeff * value - p.entropy_coeff * entropy.mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if p.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, p.grad_clip, foreach=True)
                self.optimizer.step()

    def sgd_flops(self) -> float:
        """FLOPs of one update's SGD steps: forward + backward (2x forward) of every row in
        every epoch."""
        p = self.p
        return 3.0 * self.flops_per_row * p.num_epochs * p.num_envs * p.rollout_fragment_length

    def start_timing(self) -> None:
        pass

    def close(self) -> None:
        self.env.close()


# ------------------------------------------------------------------------------------ report
def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f}"


def parse_layout(text: str) -> tuple[int, int]:
    n, t = (int(x) for x in text.lower().split("x"))
    if n < 1 or t < 1 or t % PAPER_PPO.gae_horizon or n * t < PAPER_PPO.minibatch_size:
        raise argparse.ArgumentTypeError(
            f"layout {text!r}: need NxT with T a multiple of {PAPER_PPO.gae_horizon} and "
            f"N*T >= {PAPER_PPO.minibatch_size}"
        )
    return n, t


def measure(pipelines: dict, iterations: int, warmup: int) -> dict[str, list[dict]]:
    """Warm every pipeline up, then run them round-robin (order rotating each round), so that
    a slow spell of a shared machine hits all of them."""
    for pipe in pipelines.values():
        for _ in range(warmup):
            pipe.step()
        pipe.start_timing()
    samples: dict[str, list[dict]] = {name: [] for name in pipelines}
    names = list(pipelines)
    for r in range(iterations):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(pipelines[name].step())
    return samples


def median(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def rate(samples: list[dict]) -> float:
    """Transitions/s from the median iteration (robust to other jobs' bursts)."""
    return median(samples, "transitions") / median(samples, "wall")


def paired_ratio(a: list[dict], b: list[dict]) -> float:
    """Median over rounds of rate(a)/rate(b), both measured in the same round."""
    return statistics.median(
        (x["transitions"] / x["wall"]) / (y["transitions"] / y["wall"])
        for x, y in zip(a, b, strict=True)
    )


def split_row(model: str, layout: str, name: str, samples: list[dict]) -> str:
    """Median ms per update of each part."""

    def cell(key: str) -> str:
        return ms(median(samples, key))

    sampling = learning = other = "—"
    if "env_step" in samples[0]:
        for s in samples:
            s["rest"] = s["sample"] - sum(s[k] for k in STEP_TIMERS)
        sampling = " / ".join(cell(k) for k in (*STEP_TIMERS, "rest"))
        learning = f"{cell('learner_connector')} / {cell('sgd')}"
        other = f"{cell('sync')} / {cell('other')}"
    return (
        f"| `{model}` | {layout} | {name} | {cell('wall')} | {cell('sample')} | {sampling} | "
        f"{cell('learn')} | {learning} | {other} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default="iam,lstm,gru,fnn,fnn8",
        help=f"comma-separated, from {', '.join(MODELS)}",
    )
    parser.add_argument(
        "--ppo", default="paper,tuned", help="comma-separated PPO variants: paper, tuned"
    )
    parser.add_argument(
        "--ppo-config", metavar="JSON", default="{}",
        help='PPO settings to change in the project\'s pipeline, e.g. \'{"adam_fused": true}\'',
    )
    parser.add_argument(
        "--layouts", default="8x128", help="comma-separated NxT: N envs x T steps per update "
        "under paper (tuned runs its own, 32x32)"
    )
    parser.add_argument("--iterations", type=int, default=10, help="timed updates per pipeline")
    parser.add_argument("--warmup", type=int, default=2, help="untimed updates first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-stock", action="store_true", help="skip the stock RLlib rows")
    parser.add_argument(
        "--stock-widths",
        choices=("default", "model"),
        default="default",
        help="stock's MLP for fnn/fnn8: RLlib's default 256x256, or the model's own widths",
    )
    parser.add_argument(
        "--stock-model",
        choices=("matched", "lstm"),
        default="matched",
        help="stock's model: matched to each model (LSTM for the recurrent ones, MLP for "
        "fnn/fnn8), or RLlib's default use_lstm model for every model",
    )
    args = parser.parse_args()
    models = args.models.split(",")
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}; valid: {', '.join(MODELS)}")
    try:
        overrides = json.loads(args.ppo_config)
        ppo_settings(WAREHOUSE_ID, "paper", overrides)
    except (ValueError, TypeError) as err:
        parser.error(f"--ppo-config: {err}")
    variants = args.ppo.split(",")
    for v in variants:
        if v not in ("paper", "tuned"):
            parser.error(f"unknown PPO variant {v!r}; valid: paper, tuned")
    layouts = [parse_layout(s) for s in args.layouts.split(",")]
    if args.iterations < 1 or args.warmup < 1:
        parser.error("--iterations and --warmup must be >= 1")

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("ray").setLevel(logging.ERROR)
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    command = shlex.join([".venv/bin/python", "benchmarks/train_throughput.py", *sys.argv[1:]])
    print(f"command: {command}")
    print(
        f"CPU: {cpu_name()} x {os.cpu_count()}; torch {torch.__version__} (1 thread), "
        f"ray {ray.__version__}; {args.iterations} timed rounds after {args.warmup} warm-up "
        "updates; medians"
    )
    if not args.no_stock:
        print(f"stock model: {args.stock_model}; stock MLP widths (fnn, fnn8): {args.stock_widths}")
    if overrides:
        print(f"project's PPO settings changed: {json.dumps(overrides)}")
    print(f"load average at start: {load()}", flush=True)
    started = time.perf_counter()

    rows, splits, blog = [], [], {}
    for model in models:
        for ppo in variants:
            base = ppo_settings(WAREHOUSE_ID, ppo, overrides)
            shapes = layouts if ppo == "paper" else [(base.num_envs, base.rollout_fragment_length)]
            for num_envs, steps in shapes:
                p = dataclasses.replace(base, num_envs=num_envs, rollout_fragment_length=steps)
                layout = f"{num_envs}x{steps}"
                pipelines = {
                    "project": AlgoPipeline(
                        project_config(model, ppo, num_envs, steps, args.seed, overrides),
                        num_envs,
                    )
                }
                if not args.no_stock:
                    pipelines["stock"] = AlgoPipeline(
                        stock_config(model, p, args.seed, args.stock_widths, args.stock_model),
                        num_envs,
                    )
                lean = pipelines["lean"] = LeanPipeline(model, p, args.seed)
                try:
                    samples = measure(pipelines, args.iterations, args.warmup)
                finally:
                    for pipe in pipelines.values():
                        pipe.close()
                proj, bound, stock = samples["project"], samples["lean"], samples.get("stock")
                if model == "iam" and ppo == "paper":
                    blog[layout] = BLOG_TRANSITIONS / rate(proj) / 3600
                stock_cells = (
                    [f"{rate(stock):,.0f}", f"{paired_ratio(proj, stock):.2f}x"]
                    if stock
                    else ["—", "—"]
                )
                gflops = " / ".join(
                    f"{lean.sgd_flops() / median(x, 'sgd') / 1e9:.1f}" for x in (proj, bound)
                )
                rows.append(
                    f"| `{model}` | {ppo} | {layout} | {rate(proj):,.0f} | {stock_cells[0]} | "
                    f"{rate(bound):,.0f} | {paired_ratio(proj, bound):.2f} | {stock_cells[1]} | "
                    f"{gflops} |"
                )
                splits += [split_row(model, f"{ppo} {layout}", name, s)
                           for name, s in samples.items()]
                print(rows[-1], f"  [{time.perf_counter() - started:.0f} s, load {load()}]",
                      flush=True)

    print()
    print("## Throughput (env transitions/s, sampling + learning, 1024 transitions per update)")
    print()
    print(
        "| model | PPO | layout | project | stock RLlib | lean bound | project/lean "
        "(target ≥ 0.9) | project/stock | SGD GFLOP/s project / lean |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("## Where the time goes (median ms per update of 1024 transitions)")
    print()
    print(
        "sampling detail: env step / module forward / env-to-module connector / "
        "module-to-env connector / rest (episode bookkeeping); learner detail: learner "
        "connector (value pass, GAE, padding) / the rest of the update (SGD steps, batching, "
        "metrics); other: weight sync / the rest of train() (metrics, results)"
    )
    print()
    print(
        "| model | layout | pipeline | total | sampling | sampling detail | learning "
        "| learner detail | other |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(splits))
    print()
    for layout, hours in blog.items():
        print(
            f"one `blog` trial of `iam` ({BLOG_TRANSITIONS:.0e} transitions) at {layout}, "
            f"at the rate measured above: {hours:.2f} h"
        )
    print(f"\nload average at end: {load()}; total {time.perf_counter() - started:.0f} s")
    ray.shutdown()


if __name__ == "__main__":
    main()
