"""The benchmark scripts behind the docs' speed tables run, with tiny budgets, through the
same command lines a user types. No timing is asserted (the machines are noisy): each script
must exit 0 and print its table with a positive rate in every row it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(script: str, *args: str) -> str:
    run = subprocess.run([sys.executable, f"benchmarks/{script}", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout


def rate(row: str, column: int) -> float:
    """The number in a Markdown table row's `column` (0-based), thousands separators dropped."""
    cell = row.strip().strip("|").split("|")[column]
    return float(re.match(r"\s*([\d,.]+)", cell).group(1).replace(",", ""))


def rows(out: str, start: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(start)]


@pytest.mark.slow
def test_env_speed_pairs_scalar_and_vector_per_size():
    out = bench("env_speed.py", "--seconds", "0.2", "--slice", "0.05", "--sizes", "1,64")
    (scalar,) = rows(out, "| scalar")
    vector = rows(out, "| vector")
    assert [int(r.split("|")[2]) for r in vector] == [1, 64]
    assert rate(scalar, 2) > 0 and all(rate(r, 2) > 0 and rate(r, 3) > 0 for r in vector)
    assert "medians of 2 alternating pairs" in out


def test_train_throughput_refuses_an_unknown_ppo_setting():
    run = subprocess.run([sys.executable, "benchmarks/train_throughput.py", "--ppo-config",
                          '{"adam_fusd": true}'], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "unknown PPO setting 'adam_fusd'" in run.stderr


def test_env_speed_refuses_a_slice_longer_than_its_budget():
    run = subprocess.run([sys.executable, "benchmarks/env_speed.py", "--seconds", "0.1",
                          "--slice", "1"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "--slice must be" in run.stderr


@pytest.mark.slow
def test_train_throughput_times_project_stock_and_lean_bound():
    out = bench("train_throughput.py", "--models", "fnn", "--ppo", "paper,tuned",
                "--iterations", "1", "--warmup", "1")
    for ppo, layout in (("paper", "8x128"), ("tuned", "32x32")):
        *_, row = rows(out, f"| `fnn` | {ppo} | {layout} |")  # progress line, then table
        # project, stock, lean rates; SGD GFLOP/s of project and lean
        assert rate(row, 3) > 0 and rate(row, 4) > 0 and rate(row, 5) > 0, row
        assert all(float(x) > 0 for x in row.strip("| \n").split("|")[-1].split("/")), row
        for pipeline in ("project", "stock", "lean"):
            (split,) = rows(out, f"| `fnn` | {ppo} {layout} | {pipeline} |")
            assert rate(split, 3) > 0, split  # total ms per update


@pytest.mark.parametrize(("model", "ppo"), [("iam", "paper"), ("fnn", "tuned")])
def test_the_lean_bound_trains_the_models_own_network(benchmark_module, model, ppo):
    """One update of the lean bound: the module's own layers, its settings' layout and SGD
    steps; the weights move and stay finite."""
    import dataclasses

    import torch

    from rllib_iam.training import ppo_settings

    tt = benchmark_module("train_throughput")
    p = dataclasses.replace(ppo_settings(ppo=ppo), num_envs=4, rollout_fragment_length=16,
                            minibatch_size=16)
    lean = tt.LeanPipeline(model, p, seed=0)
    before = [q.detach().clone() for q in lean.module.parameters()]
    out = lean.step()
    assert out["transitions"] == 64 and out["sgd"] > 0
    after = list(lean.module.parameters())
    assert all(torch.isfinite(q).all() for q in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    assert lean.sgd_flops() == 3 * tt.forward_flops(lean.module) * p.num_epochs * 64
    lean.close()


def test_forward_flops_counts_linear_and_recurrent_layers(benchmark_module):
    from rllib_iam.models import build_module

    tt = benchmark_module("train_throughput")
    # fnn on Warehouse: 73-512-256 (the paper's FNN), heads 256->4 and 256->1
    assert tt.forward_flops(build_module("fnn")) == 2 * (73 * 512 + 512 * 256 + 256 * 4 + 256)
    # iam: FNN 73-576-256, LSTM(64) on 25 inputs, heads over 256+64 features
    lstm = 2 * 4 * 64 * (25 + 64)
    fnn = 2 * (73 * 576 + 576 * 256)
    assert tt.forward_flops(build_module("iam")) == fnn + lstm + 2 * 320 * 5


def test_stock_can_run_the_feedforward_models_own_widths(benchmark_module):
    from rllib_iam.training import PAPER_PPO

    tt = benchmark_module("train_throughput")
    same = tt.stock_config("fnn8", PAPER_PPO, 0, widths="model").model_config
    assert same["fcnet_hiddens"] == [640, 256] and same["fcnet_activation"] == "relu"
    assert tt.stock_config("fnn8", PAPER_PPO, 0).model_config["fcnet_hiddens"] == [256, 256]
    assert tt.stock_config("iam", PAPER_PPO, 0, widths="model").model_config["use_lstm"]
    lstm = tt.stock_config("fnn8", PAPER_PPO, 0, stock_model="lstm")
    assert lstm.model_config["use_lstm"] and lstm.env_config == {"frame_stack": 8}


@pytest.mark.slow
def test_model_speed_compares_the_recurrent_call_with_the_fused_cell():
    out = bench("model_speed.py", "--models", "iam", "--rounds", "1")
    speed, fused = rows(out, "| `iam` |")  # the speed table, then the fused-cell table
    assert rate(speed, 1) > 0 and rate(speed, 2) > 0  # parameters, µs per forward
    assert rate(fused, 1) > 0 and rate(fused, 2) > 0


@pytest.mark.slow
def test_traffic_speed_runs_the_sumo_env():
    pytest.importorskip("libsumo")
    out = bench("traffic_speed.py", "--seconds", "0.2", "--sizes", "1")
    (row,) = rows(out, "| TrafficVectorEnv | 1 |")
    assert rate(row, 3) > 0


@pytest.mark.slow
def test_atari_throughput_trains_one_update():
    out = bench("atari_throughput.py", "--models", "fnn", "--iterations", "1",
                "--env-seconds", "0.2")
    assert re.search(r"env alone \(8 envs, random actions\): [\d,]+ transitions/s", out)
    (row,) = rows(out, "| `fnn` |")
    assert rate(row, 3) > 0


@pytest.mark.slow
def test_ppo_update_splits_one_update_per_model_and_variant():
    out = bench("ppo_update.py", "--models", "fnn", "--ppo", "paper,tuned", "--warmup", "1",
                "--iterations", "1")
    for ppo in ("paper", "tuned"):
        (row,) = rows(out, f"| `fnn` | {ppo} |")
        assert rate(row, 2) > 0 and rate(row, 3) > 0 and rate(row, 5) > 0, row


def test_ppo_update_refuses_an_unknown_model():
    run = subprocess.run([sys.executable, "benchmarks/ppo_update.py", "--models", "nope"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "unknown model(s) nope" in run.stderr
