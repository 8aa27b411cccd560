"""A peer learning check: Warehouse trained by Stable-Baselines3's PPO with the paper's settings.

One command trains both sides, the same seeds, budget and decay, and compares them:

    python benchmarks/peer_ppo.py --out runs/peer --timesteps 1e6 --seeds 3
    python benchmarks/peer_ppo.py --out runs/peer-sb3 --sides sb3   # SB3's side only

The project's side is this project's ``fnn`` under ``--ppo paper`` through the commands a user
types (``experiments/figure5.py`` into ``OUT/runs/project``, then ``analysis.export`` into
OUT); at the end ``analysis.stages`` writes ``OUT/stages.md`` (returns at 0.5/1/2/4e6
transitions, diagnostics) and ``OUT/curves.png``. SB3 runs in this process, the seeds one
after another, one torch thread.

Each seed k writes ``DIR/sb3_seed<k>.csv.gz``, a tidy learning curve in the format of
`analysis.export` (columns `analysis.load.TIDY_COLUMNS`: model ``sb3``, ppo ``sb3``, one row per
update of 1024 transitions), plus SB3's per-update diagnostics (entropy, vf_explained_var,
vf_loss, policy_loss, clip_fraction, kl, lr, clip_param). ``analysis.load.load_runs([DIR])``
and `analysis.figure5` read the folder beside this project's RLlib results, so the project's
``fnn`` under ``--ppo paper`` can be set against an independent PPO implementation on the same
env and network. A file that exists is never overwritten: the run is refused before training.

The setup: 8 ``gymnasium.make("rllib_iam/Warehouse-v0", time_limit_as_terminal=True)`` envs
(the 100-step limit reported as terminated, not bootstrapped, as the paper's code did) in SB3's
``DummyVecEnv`` under ``VecMonitor``, env i of seed k seeded ``k * 1000 + i``; PPO with 128
steps per env per update, minibatch 256, 3 epochs, γ 0.99, λ 0.95, entropy 0.01, value
coefficient 1.0, no gradient clipping, no advantage normalisation, lr 2.5e-4 -> 1e-10 and clip ε
0.1 -> 1e-5 (policy ratio and value prediction) decayed linearly over ``--decay-over``
transitions (``paper``: the paper's 32e6 whatever ``--timesteps`` is, so a short run ends at
``1 - T / 32e6`` of the start values; ``budget``: over the run); the FNN 73->512->256 (ReLU,
no bias) as a shared trunk, policy logits without bias (orthogonal, gain 0.01), value head with
bias (gain 1): 169,729 parameters, the project's ``fnn``.

What SB3 does differently from the project's ``paper`` PPO (docs/spec/paper.md): GAE over the
whole 128-step rollout (the reference cuts it every 8 steps); the value loss is the clipped
squared error alone (the reference's PPO2 takes the larger of clipped and unclipped); Adam's ε
is SB3's 1e-5 unless ``--adam-eps 1e-8`` (the reference's); the lr and ε of update k are taken
at k * 1024 transitions (after its rollout); minibatches are drawn from the 1024 transitions
at random. Its diagnostics are means over all minibatches of the update (``kl``: SB3's
``approx_kl``, the mean of ``(r - 1) - log r`` over the last epoch; ``vf_explained_var``: on
the rollout's values before the update; ``lr``, ``clip_param``: the values the update used),
where the project's are the last minibatch's and the values after the update. SB3 runs whole
rollouts, so a budget that is not a multiple of 1024 ends at the next multiple. The project's
closest setting (experiments/figure5.py) is
``--ppo-config '{"adam_eps": 1e-5, "vf_clip": "clamp", "gae_horizon": 128}'``.

Stable-Baselines3 is an optional peer, never a dependency of the library:
``pip install stable-baselines3==2.9.2`` (the ``peers`` extra). Without it this script exits
with a one-line error (status 2).
"""

from __future__ import annotations

import gzip
import io
import math
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from torch import nn

import rllib_iam
from analysis.export import FLOAT_FORMAT
from analysis.load import ENVS_PER_REFERENCE_STEP, TIDY_COLUMNS
from rllib_iam.cli import OneLineParser
from rllib_iam.training import PAPER_PPO

MODEL = "sb3"
"""The tidy files' model and ppo names."""
SB3_VERSION = "2.9.2"
PAPER_DECAY = PAPER_PPO.decay_transitions
"""The paper's run, 4e6 reference steps of 8 envs = 32e6 transitions: its lr and ε decays'
horizon."""
NUM_ENVS = PAPER_PPO.num_envs
N_STEPS = PAPER_PPO.rollout_fragment_length
HIDDENS = (512, 256)
"""The project's ``fnn`` trunk (docs/spec/paper.md)."""
RETURN_WINDOW = 100
"""Episodes in the return mean: RLlib's ``metrics_num_episodes_for_smoothing``."""
SEED_STRIDE = 1000
"""Env i of seed k is seeded k * SEED_STRIDE + i, so no two seeds share an env's stream."""
DIAGNOSTICS = {
    "entropy": ("train/entropy_loss", -1.0),
    "vf_explained_var": ("train/explained_variance", 1.0),
    "vf_loss": ("train/value_loss", 1.0),
    "policy_loss": ("train/policy_gradient_loss", 1.0),
    "clip_fraction": ("train/clip_fraction", 1.0),
    "kl": ("train/approx_kl", 1.0),
    "lr": ("train/learning_rate", 1.0),
    "clip_param": ("train/clip_range", 1.0),
}
"""Tidy diagnostic column -> (SB3 logger key, sign): SB3 logs the entropy *loss*, -entropy."""
COLUMNS = (*TIDY_COLUMNS, *(c for c in DIAGNOSTICS if c not in TIDY_COLUMNS))
"""The file's columns: the analysis's own, then any diagnostic it does not (yet) read."""


ROOT = Path(__file__).resolve().parent.parent


def count(text: str) -> int:
    """An integer >= 1, also written as ``1e6`` or ``1_000_000``."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(f"must be a whole number >= 1, got {text!r}")
    return int(value)


def linear(start: float, end: float, horizon: int, budget: int) -> Callable[[float], float]:
    """SB3 schedule (of progress remaining, 1 -> 0 over `budget` transitions) that goes from
    `start` to `end` linearly over `horizon` transitions, then stays at `end`."""

    def schedule(progress_remaining: float) -> float:
        t = (1.0 - progress_remaining) * budget
        return start + (end - start) * min(1.0, t / horizon)

    return schedule


def parse(argv: list[str] | None) -> Any:
    parser = OneLineParser(prog="peer_ppo", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds to run (default 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--timesteps", default="1_000_000",
                        help="env transitions per run, e.g. 1e6 (default 1_000_000)")
    parser.add_argument("--decay-over", default="paper",
                        help="lr/ε decay horizon: paper (32e6 transitions, default), budget "
                             "(--timesteps) or a number of transitions")
    parser.add_argument("--adam-eps", type=float, default=1e-5,
                        help="Adam's ε (default 1e-5, SB3's; the paper's TF code used 1e-8)")
    parser.add_argument("--out", required=True,
                        help="folder for the tidy curves, stages.md and curves.png")
    parser.add_argument("--sides", default="sb3,project",
                        help="sb3, project or both (default): project trains this project's "
                             "fnn through experiments/figure5.py with the same seeds, budget "
                             "and decay, into OUT/runs/project, and exports it beside SB3's")
    args = parser.parse_args(argv)
    args.sides = [side.strip() for side in args.sides.split(",") if side.strip()]
    if not args.sides or set(args.sides) - {"sb3", "project"}:
        parser.error(f"--sides must list sb3 and/or project, got {','.join(args.sides)!r}")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.first_seed < 0:
        parser.error(f"--first-seed must be >= 0, got {args.first_seed}")
    try:
        args.timesteps = count(args.timesteps)
    except ValueError as err:
        parser.error(f"--timesteps {err}")
    if args.decay_over == "paper":
        args.decay = PAPER_DECAY
    elif args.decay_over == "budget":
        args.decay = args.timesteps
    else:
        try:
            args.decay = count(args.decay_over)
        except ValueError as err:
            parser.error(f"--decay-over must be paper, budget or a number of transitions: {err}")
    if not (math.isfinite(args.adam_eps) and args.adam_eps > 0):
        parser.error(f"--adam-eps must be > 0, got {args.adam_eps}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out is a file: {out}")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    args.paths = {seed: out / f"{MODEL}_seed{seed}.csv.gz" for seed in seeds}
    project = [out / f"fnn_seed{seed}.csv.gz" for seed in seeds] + [out / "runs" / "project"]
    existing = [str(p) for p in args.paths.values() if p.exists() and "sb3" in args.sides]
    existing += [str(p) for p in project if p.exists() and "project" in args.sides]
    if existing:
        parser.error(f"{', '.join(existing)} exists; not overwritten (move it away first)")
    try:
        import stable_baselines3  # noqa: F401  (the check; `run` imports what it uses)
    except ImportError:
        parser.error(f"stable-baselines3 is not installed: pip install "
                     f"stable-baselines3=={SB3_VERSION} (the peers extra)")
    return args


def trunk_class() -> type:
    """The FNN trunk as an SB3 features extractor (SB3 imported only when it is used)."""
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class FNNTrunk(BaseFeaturesExtractor):
        """Dense layers without bias, each followed by ReLU (the project's `FNN`)."""

        def __init__(self, observation_space: gym.spaces.Box) -> None:
            super().__init__(observation_space, features_dim=HIDDENS[-1])
            layers: list[nn.Module] = []
            size = int(np.prod(observation_space.shape))
            for width in HIDDENS:
                layers += [nn.Linear(size, width, bias=False), nn.ReLU()]
                size = width
            self.net = nn.Sequential(*layers)

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.net(obs)

    return FNNTrunk


def curve_callback(trial: str, seed: int, budget: int, params: int) -> Any:
    """An SB3 callback that keeps one tidy row per update in its `rows`."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Curve(BaseCallback):
        """Episode returns from VecMonitor's ``info["episode"]``; a row per rollout, completed
        with the diagnostics of the update after it (SB3 records them in `train`, which runs
        between this rollout's end and the next one's start, or the end of training)."""

        def __init__(self) -> None:
            super().__init__()
            self.episodes: list[tuple[int, float]] = []  # (transitions at its end, return)
            self.window: deque[float] = deque(maxlen=RETURN_WINDOW)
            self.rows: list[dict[str, Any]] = []
            self.pending: dict[str, Any] | None = None

        def _on_training_start(self) -> None:
            self.start = self.last = time.perf_counter()

        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"], strict=True):
                if done and "episode" in info:
                    self.episodes.append((self.num_timesteps, float(info["episode"]["r"])))
                    self.window.append(float(info["episode"]["r"]))
            return True

        def _on_rollout_end(self) -> None:
            transitions = int(self.num_timesteps)
            self.pending = {
                "trial": trial, "model": MODEL, "seed": seed, "env": rllib_iam.WAREHOUSE_ID,
                "ppo": MODEL, "budget": budget, "complete": True,
                "iteration": len(self.rows) + 1, "transitions": transitions,
                "reference_steps": transitions / ENVS_PER_REFERENCE_STEP,
                "episode_return_mean": float(np.mean(self.window)) if self.window else np.nan,
                "params": params,
            }

        def _on_rollout_start(self) -> None:
            self._finish()

        def _on_training_end(self) -> None:
            self._finish()

        def _finish(self) -> None:
            if self.pending is None:
                return
            now = time.perf_counter()
            logged = self.model.logger.name_to_value
            row = self.pending
            previous = self.rows[-1]["transitions"] if self.rows else 0
            row["wall_time_s"] = now - self.start
            row["transitions_per_s"] = (row["transitions"] - previous) / (now - self.last)
            for column, (key, sign) in DIAGNOSTICS.items():
                row[column] = sign * float(logged[key]) if key in logged else np.nan
            self.rows.append(row)
            self.pending, self.last = None, now

    return Curve()


def build(seed: int, timesteps: int, decay: int, adam_eps: float) -> Any:
    """The SB3 PPO of one seed, its envs seeded, its heads the project's."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    p = PAPER_PPO

    def make() -> gym.Env:
        return gym.make(rllib_iam.WAREHOUSE_ID, time_limit_as_terminal=True)

    envs = VecMonitor(DummyVecEnv([make] * NUM_ENVS))
    lr = linear(p.lr, p.lr_final, decay, timesteps)
    clip = linear(p.clip_param, p.clip_param_final, decay, timesteps)
    model = PPO(
        "MlpPolicy", envs, n_steps=N_STEPS, batch_size=p.minibatch_size, n_epochs=p.num_epochs,
        gamma=p.gamma, gae_lambda=p.lambda_, learning_rate=lr, clip_range=clip,
        clip_range_vf=clip, ent_coef=p.entropy_coeff, vf_coef=p.vf_loss_coeff,
        max_grad_norm=1e10, normalize_advantage=False, seed=seed, device="cpu", verbose=0,
        policy_kwargs=dict(
            features_extractor_class=trunk_class(), net_arch=dict(pi=[], vf=[]),
            share_features_extractor=True, ortho_init=True, optimizer_kwargs={"eps": adam_eps},
        ),
    )
    # PPO(seed=k) seeded the envs k + i (shared between neighbouring seeds); reseed them apart.
    envs.seed(seed * SEED_STRIDE)
    policy = model.policy
    # SB3's action head has a bias; the project's (and the reference's) policy logits have none.
    head = nn.Linear(policy.action_net.in_features, policy.action_net.out_features, bias=False)
    nn.init.orthogonal_(head.weight, 0.01)
    policy.action_net = head
    policy.optimizer = torch.optim.Adam(policy.parameters(), lr=lr(1.0), eps=adam_eps)
    return model


def tidy_bytes(rows: list[dict[str, Any]]) -> bytes:
    """The rows as gzip-compressed CSV with a fixed header time (as `analysis.export`)."""
    text = pd.DataFrame(rows).loc[:, list(COLUMNS)].to_csv(index=False,
                                                           float_format=FLOAT_FORMAT)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(text.encode())
    return buffer.getvalue()


def run(seed: int, args: Any) -> dict[str, Any]:
    """Train one seed and write its file; returns its last row."""
    model = build(seed, args.timesteps, args.decay, args.adam_eps)
    params = sum(p.numel() for p in model.policy.parameters())
    path = args.paths[seed]
    curve = curve_callback(f"{path.parent.resolve().name}/{MODEL}_seed{seed}", seed,
                           args.timesteps, params)
    model.learn(total_timesteps=args.timesteps, callback=curve)
    model.get_env().close()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("xb") as f:  # never overwrite, even a file that appeared meanwhile
        f.write(tidy_bytes(curve.rows))
    return curve.rows[-1]


def run_project(args: Any) -> None:
    """This project's fnn under the paper PPO, through the commands a user types: the grid
    (experiments/figure5.py) and the export of its finished trials (analysis.export)."""
    out = Path(args.out)
    decay = args.decay_over if args.decay_over in ("paper", "budget") else str(args.decay)
    commands = [
        ["experiments/figure5.py", "--models", "fnn", "--seeds", str(args.seeds),
         "--first-seed", str(args.first_seed), "--timesteps", str(args.timesteps),
         "--decay-over", decay, "--storage-path", str(out / "runs"), "--name", "project",
         "--no-analysis"],
        ["-m", "analysis.export", str(out / "runs" / "project"), "--out", str(out)],
    ]
    for command in commands:
        subprocess.run([sys.executable, *command], cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(1)  # as the project's pipeline runs (OneTorchThread)
    if "project" in args.sides:
        run_project(args)
    for seed in args.paths if "sb3" in args.sides else ():
        last = run(seed, args)
        print(f"sb3 seed {seed}: final return {last['episode_return_mean']:.2f} (last "
              f"{RETURN_WINDOW} episodes) at {last['transitions']:,} transitions, wall "
              f"{last['wall_time_s']:.1f} s, "
              f"{last['transitions'] / last['wall_time_s']:,.0f} transitions/s "
              f"-> {args.paths[seed]}", flush=True)
    from analysis.stages import write

    marks = sorted({m for m in (500_000, 1_000_000, 2_000_000, 4_000_000) if m <= args.timesteps}
                   | {args.timesteps})
    for path in write([args.out], args.out, marks=marks, window=min(50_000, args.timesteps)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
