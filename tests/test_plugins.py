"""Models of one's own, as plug-ins: examples/window_gru.py named ``window_gru:window_gru``
through the entry points a user types (a grid beside ``iam``, a resume, a rollout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rllib_iam.models import MODELS, ZooModule, build_module, model_class, model_name, register

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def test_a_module_colon_name_imports_the_module_that_registers_it(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    cls = model_class("window_gru:window_gru")
    assert cls.NAME == "window_gru" and MODELS["window_gru"] is cls
    assert model_name("window_gru:window_gru") == "window_gru" and model_name("iam") == "iam"
    module = build_module("window_gru:window_gru", param_budget=200_000)
    assert abs(sum(p.numel() for p in module.parameters()) - 200_000) < 2_000


@pytest.mark.parametrize("name, message", [
    ("no_such_module:gru_k", "unknown model 'no_such_module:gru_k': cannot import "
                             "no_such_module"),
    ("json:gru_k", "importing json registered none of that name"),
    ("transformer", "unknown model 'transformer'; valid: iam"),
])
def test_unknown_models_are_one_line(name, message):
    with pytest.raises(ValueError, match=message) as err:
        model_class(name)
    assert "\n" not in str(err.value)


def test_register_checks_what_it_is_given():
    with pytest.raises(ValueError, match="takes a ZooModule subclass"):
        register(dict)

    class Colon(ZooModule):
        NAME = "a:b"

    with pytest.raises(ValueError, match="must be a plain name without ':'"):
        register(Colon)

    class Clash(ZooModule):
        NAME = "iam"

    with pytest.raises(ValueError, match="model name 'iam' is taken by IAMModule"):
        register(Clash)
    assert MODELS["iam"].__name__ == "IAMModule"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_an_own_model_trains_beside_iam_resumes_and_rolls_out(tmp_path):
    storage = tmp_path / "runs"
    run("experiments/figure5.py", "--models", "iam,window_gru:window_gru", "--profile", "smoke",
        "--storage-path", str(storage), "--name", "byom")
    grid = storage / "byom"
    assert (grid / "window_gru_seed0" / "result.json").is_file()
    table = pd.read_csv(grid / "figure5" / "table.csv").set_index("model")
    assert set(table.index) == {"iam", "window_gru"} and table.loc["window_gru", "seeds"] == 1
    verdict = (grid / "figure5" / "table.md").read_text()
    assert "Against window_gru" in verdict
    resumed = run("experiments/figure5.py", "--storage-path", str(storage), "--name", "byom",
                  "--resume", "--no-analysis")
    assert "2 of 2 trials finished" in resumed.stdout
    out = tmp_path / "window_gru.gif"
    played = run("experiments/rollout.py", str(grid / "window_gru_seed0"), "--episodes", "1",
                 "--frames", "4", "--out", str(out))
    assert out.is_file() and "mean return over 1 episodes" in played.stdout


def test_ppo_config_takes_the_class_itself(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from window_gru import WindowGRU

    from rllib_iam.training import ppo_config

    config = ppo_config(WindowGRU, total_timesteps=2048)
    assert config.rl_module_spec.module_class is WindowGRU
    assert config.env_config["frame_stack"] == 8
