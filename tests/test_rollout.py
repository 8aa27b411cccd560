"""Atari through the real entry points: a smoke grid on FlickeringPong, then the rollout script
on its checkpoint and on Warehouse modules."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import cv2
import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image, ImageChops
from ray.rllib.core.columns import Columns

from rllib_iam import TRAFFIC_ID
from rllib_iam.grid import FIGURE5
from rllib_iam.models import build_module, count_params
from rllib_iam.rollout import RolloutError, load_module, module_dir, rollout

ROOT = Path(__file__).resolve().parent.parent
PONG = "rllib_iam/FlickeringPong-v0"
SMOKE_MODELS = ("iam_attention",)  # the others' RLlib path is Warehouse's (tests/test_figure5)


def script(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, f"experiments/{name}", *args], cwd=ROOT, capture_output=True, text=True
    )
    if check and run.returncode != 0:
        raise AssertionError(f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


@pytest.fixture(scope="module")
def pong_smoke(tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("atari")
    script("figure5.py", "--env", PONG, "--profile", "smoke", "--models", ",".join(SMOKE_MODELS),
           "--storage-path", str(storage), "--name", "pong", "--no-analysis")
    return storage / "pong"


def test_smoke_grid_on_flickering_pong(pong_smoke: Path) -> None:
    for model in SMOKE_MODELS:
        trial = pong_smoke / f"{model}_seed0"
        lines = (trial / "result.json").read_text().splitlines()
        assert len(lines) == 1, model  # the smoke profile: one update of 8 x 128 transitions
        result = json.loads(lines[0])
        assert result[FIGURE5]["transitions"] == 1024
        assert result[FIGURE5]["params"] == count_params(build_module(model, PONG))
        assert result["config"]["env"] == PONG
        assert list(trial.glob("checkpoint_*")), model
    params = json.loads((pong_smoke / "iam_attention_seed0" / "params.json").read_text())
    assert params["env"] == PONG


@pytest.mark.slow
def test_rollout_of_the_attention_checkpoint_writes_a_playable_gif(pong_smoke, tmp_path) -> None:
    out = tmp_path / "pong.gif"
    run = script("rollout.py", str(pong_smoke / "iam_attention_seed0"), "--episodes", "2",
                 "--max-steps", "30", "--frames", "24", "--out", str(out))
    assert "iam_attention on rllib_iam/FlickeringPong-v0" in run.stdout
    assert run.stdout.count("(cut at 30 steps)") == 2
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == 24 and gif.size == (656, 436)
    frames = []
    for k in (0, 5):
        gif.seek(k)
        frames.append(gif.convert("RGB"))
    assert ImageChops.difference(*frames).getbbox() is not None  # it moves


def test_rollout_of_a_warehouse_module_writes_an_mp4(tmp_path, capsys) -> None:
    """In-process (the same `main` as the command line) to spare a second interpreter."""
    build_module("iam").save_to_path(tmp_path / "iam")
    out = tmp_path / "warehouse.mp4"
    main = runpy.run_path(str(ROOT / "experiments" / "rollout.py"))["main"]
    args = [str(tmp_path / "iam"), "--episodes", "2", "--frames", "40", "--out", str(out)]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert stdout.count(" in 100 steps\n") == 2 and "mean return over 2 episodes" in stdout
    video = cv2.VideoCapture(str(out))
    assert video.get(cv2.CAP_PROP_FRAME_COUNT) == 40
    ok, frame = video.read()
    assert ok and frame.shape == (298, 280, 3)
    video.release()


def test_rollout_draws_traffic_through_the_envs_render(tmp_path) -> None:
    """Every env renders ``rgb_array`` frames, so a Traffic module gets a video too."""
    build_module("iam", TRAFFIC_ID).save_to_path(tmp_path / "iam")
    (episode,) = rollout(load_module(tmp_path / "iam"), episodes=1, max_steps=6, max_frames=4)
    assert len(episode.frames) == 4 and episode.steps == 6
    assert all(f.shape == (498, 480, 3) and f.dtype == np.uint8 for f in episode.frames)
    assert not np.array_equal(episode.frames[0][:480], episode.frames[-1][:480])  # cars moved


@pytest.mark.parametrize("name", ["iam", "gru"])
def test_rollout_threads_the_recurrent_state(name: str, tmp_path) -> None:
    """Greedy actions taken step by step equal those of one pass over the whole episode, and
    each episode starts from the initial state."""
    torch.manual_seed(0)
    module = build_module(name)
    with torch.no_grad():
        for p in module.parameters():  # a policy that depends strongly on its memory
            p.normal_(0.0, 0.3)
    module.save_to_path(tmp_path / name)
    module = load_module(tmp_path / name)
    episodes = rollout(module, episodes=2, seed=5, greedy=True, max_steps=40)
    env = gym.make("rllib_iam/Warehouse-v0")
    for k, episode in enumerate(episodes):
        obs = [env.reset(seed=5 + k)[0]]
        for action in episode.actions[:-1]:
            obs.append(env.step(action)[0])
        batch = {Columns.OBS: torch.from_numpy(np.stack(obs))[None]}
        with torch.no_grad():
            logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0]
        assert logits.argmax(-1).tolist() == episode.actions
    assert all(len(set(e.actions)) > 1 for e in episodes)


@pytest.mark.parametrize(
    "args, message",
    [
        (["ckpt", "--out", "x.avi"], "--out must end in .gif or .mp4"),
        (["ckpt", "--episodes", "0"], "--episodes: must be an integer >= 1"),
    ],
)
def test_bad_options_are_one_line(args: list[str], message: str) -> None:
    run = script("rollout.py", *args, check=False)
    assert run.returncode == 2
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_an_existing_video_is_left_alone_without_overwrite(tmp_path) -> None:
    video = tmp_path / "mine.gif"
    video.write_bytes(b"a video the user already has")
    run = script("rollout.py", "ckpt", "--out", str(video), check=False)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "already exists; pass --overwrite" in run.stderr
    assert video.read_bytes() == b"a video the user already has"


def test_what_is_not_a_checkpoint_is_named(tmp_path) -> None:
    with pytest.raises(RolloutError, match="no checkpoint folder at '/nonexistent'"):
        module_dir("/nonexistent")
    with pytest.raises(RolloutError, match="not a trial folder, an RLlib checkpoint or an RLM"):
        module_dir(tmp_path)
    build_module("fnn").save_to_path(tmp_path / "trial" / "checkpoint_000001" / "x")
    with pytest.raises(RolloutError, match="not a trial folder"):
        module_dir(tmp_path / "trial")


def test_rollout_takes_a_relative_checkpoint_path(tmp_path, monkeypatch, capsys) -> None:
    """``python experiments/rollout.py runs/.../iam_seed0 --out iam.gif`` as the README shows
    it, from the folder the runs are in (RLlib reads a relative path as a URI otherwise)."""
    monkeypatch.chdir(tmp_path)
    build_module("iam").save_to_path(tmp_path / "runs" / "iam")
    main = runpy.run_path(str(ROOT / "experiments" / "rollout.py"))["main"]
    assert main(["runs/iam", "--episodes", "1", "--frames", "3", "--out", "iam.gif"]) == 0
    with Image.open(tmp_path / "iam.gif") as gif:
        assert gif.n_frames == 3
    assert module_dir("runs/iam") == (tmp_path / "runs" / "iam").resolve()


def test_frames_name_the_model_and_the_action() -> None:
    from rllib_iam.rollout import draw_frame

    env = gym.make("rllib_iam/Warehouse-v0", render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    plain = draw_frame(env, obs, None, 0.0, 0)
    named = draw_frame(env, obs, None, 0.0, 0, model="iam", action=2)
    other = draw_frame(env, obs, None, 0.0, 0, model="iam", action=3)
    env.close()
    rows = slice(plain.shape[0] - 14, None)  # the caption under the env's frame
    assert np.array_equal(plain[:rows.start], named[:rows.start])
    assert not np.array_equal(plain[rows], named[rows])
    assert not np.array_equal(named[rows], other[rows])
