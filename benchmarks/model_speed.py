"""What the RLModule wrapping costs: every model of the zoo next to the same network in plain torch.

Run (prints a Markdown table; a few minutes on a 2-core VM):

    .venv/bin/python benchmarks/model_speed.py                # all models
    .venv/bin/python benchmarks/model_speed.py --models iam lstm --rounds 5

Measured per model, one thread (``torch.set_num_threads(1)``, as each RLlib worker runs):
- inference at batch 8 and 64: one env step as the env runner asks for it, ``forward_inference``
  on obs ``(B, 1, D)`` plus the state for recurrent models, ``(B, D)`` for feedforward ones;
- one training step at minibatch 256 (recurrent: 32 sequences of 8 steps): ``forward_train``,
  ``compute_values`` on its embeddings, a PPO-shaped loss, backward, Adam step.
The plain-torch side is the same architecture written directly with ``nn.Linear``/``nn.LSTM``
and tuple states and the module's weights (checked to give the same logits), timed in the same
process, interleaved round by round; times are the best round's. RLlib's own connector and
Learner overhead is not part of either side.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

try:
    import rllib_iam  # noqa: F401
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
import torch
from machine import cpu_name
from ray.rllib.core.columns import Columns
from torch import nn

from rllib_iam.models import MODELS, build_module, count_params
from rllib_iam.models.base import ZooModule

Hidden = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None
"""torch's own recurrent state: h, or (h, c), each (1, B, H); None for feedforward nets."""


class PlainNet(nn.Module):
    """The zoo's architectures without RLlib: optional FNN branch, optional RNN over D(obs).

    `fused_step`: run single steps through torch's fused cell, as the zoo's `Memory` does;
    False calls `nn.LSTM`/`nn.GRU` for every step (the second table shows the difference).
    """

    def __init__(self, module: ZooModule, fused_step: bool = True) -> None:
        super().__init__()
        self.fused_step = fused_step
        config, name = module.model_config, module.NAME
        obs_size = module.observation_space.shape[0]
        self.fnn, size = None, 0
        if "fnn_hiddens" in config:
            layers, width = [], obs_size
            for h in config["fnn_hiddens"]:
                layers += [nn.Linear(width, h, bias=False), nn.ReLU()]
                width = h
            self.fnn, size = nn.Sequential(*layers), width
        self.rnn, self.d_index, self.d_map = None, None, None
        if "memory_size" in config:
            cell = nn.GRU if name in ("gru", "iam_gru") else nn.LSTM
            d_size = obs_size
            if name == "iam_auto":
                d_size = config["d_size"]
                self.d_map = nn.Linear(obs_size, d_size, bias=False)
            elif name.startswith("iam") and name != "iam_static":
                self.d_index = module.trunk.d_map.indices.clone()
                d_size = len(self.d_index)
            self.rnn = cell(d_size, config["memory_size"], batch_first=True)
            size += config["memory_size"]
        self.pi = nn.Linear(size, module.action_space.n, bias=False)
        self.vf = nn.Linear(size, 1)
        with torch.no_grad():  # same numbers too, layers are created in the module's order
            for mine, theirs in zip(self.parameters(), module.parameters(), strict=True):
                assert mine.shape == theirs.shape, (mine.shape, theirs.shape)
                mine.copy_(theirs)

    def forward(self, obs: torch.Tensor, hx: Hidden) -> tuple[torch.Tensor, torch.Tensor, Hidden]:
        parts = []
        if self.fnn is not None:
            parts.append(self.fnn(obs))
        if self.rnn is not None:
            d = obs
            if self.d_index is not None:
                d = obs.index_select(-1, self.d_index)
            elif self.d_map is not None:
                d = self.d_map(obs)
            if self.fused_step and d.shape[1] == 1:
                rnn = self.rnn
                weights = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
                if isinstance(rnn, nn.LSTM):
                    hx = torch.lstm_cell(d[:, 0], hx, *weights)
                    y = hx[0].unsqueeze(1)
                else:
                    hx = torch.gru_cell(d[:, 0], hx, *weights)
                    y = hx.unsqueeze(1)
            else:
                y, hx = self.rnn(d, hx)
            parts.append(y)
        features = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        return self.pi(features), features, hx

    def initial_hx(self, batch: int, steps: int) -> Hidden:
        """Zeros in torch's layout: (B, H) for the fused cell, (1, B, H) for nn.LSTM/GRU."""
        if self.rnn is None:
            return None
        fused = self.fused_step and steps == 1
        h = torch.zeros(*(() if fused else (1,)), batch, self.rnn.hidden_size)
        return (h, h.clone()) if isinstance(self.rnn, nn.LSTM) else h


def ppo_shaped_loss(logits: torch.Tensor, values: torch.Tensor, data: dict) -> torch.Tensor:
    """Clipped-ratio policy loss, value loss and entropy: the work a PPO minibatch does."""
    dist = torch.distributions.Categorical(logits=logits)
    ratio = torch.exp(dist.log_prob(data["actions"]) - data["logp"])
    adv = data["advantages"]
    policy = -torch.min(ratio * adv, ratio.clamp(0.9, 1.1) * adv).mean()
    return policy + (values - data["targets"]).pow(2).mean() - 0.01 * dist.entropy().mean()


def time_rounds(fns: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Best seconds per call over the rounds, for each fn.

    The fns run back to back in each round, so both sides see the same machine; the best round
    is the least disturbed one (timeit's advice), which matters on a shared 2-core VM where
    medians swing by tens of percent between runs.
    """
    for fn in fns.values():
        for _ in range(max(3, calls // 5)):
            fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for key, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[key] = min(best[key], (time.perf_counter() - start) / calls)
    return best


def inference_fns(module: ZooModule, plain: PlainNet, batch: int) -> dict[str, Callable]:
    """One env step of each side, as the env runner shapes it."""
    obs_size = module.observation_space.shape[0]
    stateful = module.is_stateful()
    obs = torch.rand(batch, 1, obs_size) if stateful else torch.rand(batch, obs_size)
    rl_batch = {Columns.OBS: obs}
    if stateful:
        rl_batch[Columns.STATE_IN] = {
            k: torch.zeros(batch, *v.shape) for k, v in module.get_initial_state().items()
        }
    hx = plain.initial_hx(batch, steps=1)

    def plain_step():
        with torch.no_grad():
            return plain(obs, hx)

    return {"module": lambda: module.forward_inference(rl_batch), "plain": plain_step}


def train_fns(module: ZooModule, plain: PlainNet, minibatch: int, seq: int) -> dict:
    """One optimiser step of each side on the same minibatch shape."""
    obs_size = module.observation_space.shape[0]
    stateful = module.is_stateful()
    shape = (minibatch // seq, seq) if stateful else (minibatch,)
    data = {
        "actions": torch.randint(0, module.action_space.n, shape),
        "logp": torch.full(shape, -1.386),
        "advantages": torch.randn(shape),
        "targets": torch.randn(shape),
    }
    obs = torch.rand(*shape, obs_size)
    rl_batch = {Columns.OBS: obs}
    if stateful:
        rl_batch[Columns.STATE_IN] = {
            k: torch.zeros(shape[0], *v.shape) for k, v in module.get_initial_state().items()
        }
    hx = plain.initial_hx(shape[0], steps=seq if stateful else 1)
    module_opt = torch.optim.Adam(module.parameters(), lr=2.5e-4)
    plain_opt = torch.optim.Adam(plain.parameters(), lr=2.5e-4)

    def module_step():
        out = module.forward_train(rl_batch)
        values = module.compute_values(rl_batch, out[Columns.EMBEDDINGS])
        loss = ppo_shaped_loss(out[Columns.ACTION_DIST_INPUTS], values, data)
        module_opt.zero_grad()
        loss.backward()
        module_opt.step()

    def plain_step():
        logits, features, _ = plain(obs, hx)
        loss = ppo_shaped_loss(logits, plain.vf(features).squeeze(-1), data)
        plain_opt.zero_grad()
        loss.backward()
        plain_opt.step()

    return {"module": module_step, "plain": plain_step}


def check_same_network(module: ZooModule, plain: PlainNet) -> None:
    """The comparison only means something if both sides compute the same function."""
    for steps in (1, 3):
        obs = torch.rand(4, steps, module.observation_space.shape[0])
        with torch.no_grad():
            expected, _, _ = plain(obs, plain.initial_hx(4, steps))
        got = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
        assert torch.allclose(got, expected, atol=1e-6), module.NAME


def main() -> None:
    """Time every requested model and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds per timing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    print(
        f"CPU: {cpu_name()}, torch {torch.__version__}, 1 thread; best round of "
        f"{3 * args.rounds} x 50 calls (inference), {args.rounds} x 3 steps (training)"
    )
    print()
    print(
        "| model | params | infer B=8 module / plain (µs) | overhead "
        "| infer B=64 module / plain (µs) | overhead "
        "| train 256 module / plain (ms) | overhead |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        module = build_module(name)
        plain = PlainNet(module)
        check_same_network(module, plain)
        cells = [f"`{name}`", f"{count_params(module):,}"]
        for batch in (8, 64):
            t = time_rounds(inference_fns(module, plain, batch), calls=50, rounds=3 * args.rounds)
            cells += [
                f"{t['module'] * 1e6:.0f} / {t['plain'] * 1e6:.0f}",
                f"{t['module'] / t['plain'] - 1:+.0%}",
            ]
        seq = module.model_config["max_seq_len"]
        t = time_rounds(train_fns(module, plain, 256, seq), calls=3, rounds=args.rounds)
        cells += [
            f"{t['module'] * 1e3:.1f} / {t['plain'] * 1e3:.1f}",
            f"{t['module'] / t['plain'] - 1:+.0%}",
        ]
        print("| " + " | ".join(cells) + " |", flush=True)

    recurrent = [name for name in args.models if build_module(name).is_stateful()]
    if not recurrent:
        return
    print()
    print("One env step at B=8 in plain torch: `nn.LSTM`/`nn.GRU` call vs the fused cell")
    print()
    print("| model | nn.LSTM/GRU call (µs) | fused cell (µs) | saving |")
    print("|---|---|---|---|")
    for name in recurrent:
        module = build_module(name)
        fused, sequence = PlainNet(module), PlainNet(module, fused_step=False)
        check_same_network(module, sequence)
        fns = {
            "sequence": inference_fns(module, sequence, 8)["plain"],
            "fused": inference_fns(module, fused, 8)["plain"],
        }
        t = time_rounds(fns, calls=50, rounds=3 * args.rounds)
        saving = 1 - t["fused"] / t["sequence"]
        print(f"| `{name}` | {t['sequence'] * 1e6:.0f} | {t['fused'] * 1e6:.0f} | {saving:.0%} |")


if __name__ == "__main__":
    main()
