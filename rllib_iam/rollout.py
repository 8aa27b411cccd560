"""Run a trained policy from a checkpoint, episode by episode, and draw what it sees.

`load_module` finds the RLModule inside a Tune trial folder, an RLlib/Tune checkpoint or an
RLModule checkpoint; the module's resolved config names its env (``env_id``), so nothing else
is needed. `rollout` plays whole episodes one step at a time, feeding each step's
``STATE_OUT`` back as the next ``STATE_IN`` and starting every episode from the module's
initial state, as RLlib's env runner does; it returns the episode returns and, if asked, the
frames: the env's own ``render()`` (``render_mode="rgb_array"``) with the step and return
written below. The env's spec says how it is watched (`EnvSpec.eval_options`) and drawn
(`EnvSpec.rollout_frame`): Atari is played as evaluated (whole games, unclipped score, flicker
as trained), its frame the emulator's screen beside the frame the agent saw, with
`iam_attention`'s weights drawn over it. Warehouse and Traffic are drawn as their envs render
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import tree
from PIL import Image, ImageDraw
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from rllib_iam.envs.registry import find, spec_for
from rllib_iam.envs.spec import load
from rllib_iam.models import env_config_for
from rllib_iam.models.iam_attention import ATTENTION

MODULE_PATH = ("learner_group", "learner", "rl_module", "default_policy")
"""Where an algorithm checkpoint keeps its (single) RLModule."""
VIDEO_SUFFIXES = (".gif", ".mp4")
CAPTION_ROWS = 18
"""Rows added below an env's frame for the step and return (an `EnvSpec.rollout_frame` leaves
its own, Atari's 16)."""


class RolloutError(ValueError):
    """A checkpoint or option the rollout cannot use; the message is one line."""


@dataclass
class Episode:
    """One played episode."""

    ret: float
    """the sum of rewards (Atari: the unclipped game score)"""
    steps: int
    """agent steps taken"""
    finished: bool
    """False when `max_steps` cut it"""
    actions: list[int] = field(default_factory=list)
    """the actions taken (with the env seed, a replay)"""
    frames: list[np.ndarray] = field(default_factory=list)
    """drawn RGB frames (uint8, H x W x 3), when asked for"""


def module_dir(checkpoint: str | Path) -> Path:
    """The RLModule folder inside `checkpoint` (a trial folder: its latest checkpoint), as an
    absolute path (``~`` expanded): RLlib reads checkpoints through pyarrow, which takes a
    relative path for a URI without a scheme."""
    path = Path(checkpoint).expanduser().resolve()
    if not path.is_dir():
        raise RolloutError(f"no checkpoint folder at {str(path)!r}")
    checkpoints = sorted(path.glob("checkpoint_*"))
    if checkpoints:
        path = checkpoints[-1]
    for candidate in (path.joinpath(*MODULE_PATH), path):
        if (candidate / "class_and_ctor_args.pkl").is_file() and (
            candidate / "module_state.pkl"
        ).is_file():
            return candidate
    raise RolloutError(
        f"{str(checkpoint)!r} is not a trial folder, an RLlib checkpoint or an RLModule checkpoint"
    )


def load_module(checkpoint: str | Path) -> RLModule:
    """The trained RLModule of `checkpoint`, in eval mode on the CPU."""
    module = RLModule.from_checkpoint(module_dir(checkpoint))
    if "env_id" not in (module.model_config or {}):
        raise RolloutError(f"the module in {str(checkpoint)!r} is not a model of this project")
    module.eval()
    return module


def make_env(module: RLModule, render_mode: str | None = None) -> gym.Env:
    """The module's env with the options it was trained with and its spec's `eval_options`
    (Atari: as evaluated)."""
    env_id = module.model_config["env_id"]
    options = {**env_config_for(module.NAME, env_id), **spec_for(env_id).eval_options}
    return gym.make(env_id, render_mode=render_mode, **options)


def rollout(
    module: RLModule,
    *,
    episodes: int,
    seed: int = 0,
    greedy: bool = False,
    max_steps: int | None = None,
    max_frames: int = 0,
) -> list[Episode]:
    """Play `episodes` episodes (env seeds ``seed, seed + 1, ...``); actions are sampled from
    the policy (seeded by `seed`) unless `greedy`. `max_steps` cuts an episode; the first
    `max_frames` steps (over all episodes) are drawn."""
    env = make_env(module, "rgb_array" if max_frames else None)
    generator = torch.Generator().manual_seed(seed)
    played = []
    try:
        for k in range(episodes):
            budget = max_frames - sum(len(e.frames) for e in played)
            played.append(_episode(module, env, seed + k, generator, greedy, max_steps, budget))
    finally:
        env.close()
    return played


def _episode(module, env, seed, generator, greedy, max_steps, max_frames) -> Episode:
    stateful = module.is_stateful()
    state = tree.map_structure(lambda s: torch.from_numpy(s)[None], module.get_initial_state())
    obs, _ = env.reset(seed=seed)
    episode = Episode(ret=0.0, steps=0, finished=False)
    while max_steps is None or episode.steps < max_steps:
        batch = {Columns.OBS: torch.from_numpy(np.asarray(obs))[None]}
        if stateful:
            batch[Columns.STATE_IN] = state
        with torch.no_grad():
            out = module.forward_inference(batch)
        logits = out[Columns.ACTION_DIST_INPUTS][0]
        if greedy:
            action = int(logits.argmax())
        else:
            action = int(torch.multinomial(logits.softmax(-1), 1, generator=generator))
        if stateful:
            state = out[Columns.STATE_OUT]
        if len(episode.frames) < max_frames:
            weights = out.get(ATTENTION)
            weights = None if weights is None else weights[0].numpy()
            episode.frames.append(draw_frame(env, obs, weights, episode.ret, episode.steps,
                                             model=getattr(module, "NAME", None),
                                             action=action))
        obs, reward, terminated, truncated, _ = env.step(action)
        episode.actions.append(action)
        episode.ret += float(reward)
        episode.steps += 1
        if terminated or truncated:
            episode.finished = True
            break
    return episode


# --------------------------------------------------------------------------------- drawing
def draw_frame(
    env: gym.Env, obs: np.ndarray, attention: np.ndarray | None, ret: float, step: int,
    *, model: str | None = None, action: int | None = None,
) -> np.ndarray:
    """One RGB video frame of this step: `env`'s ``render()`` (an ``rgb_array`` env), drawn by
    its spec's `rollout_frame` where it has one (Atari: beside what the policy saw), and below
    it the model, the step, the action the policy takes from this state and the return so
    far."""
    rendered = env.render()
    spec = find(env.spec.id) if env.spec is not None else None
    if spec is not None and spec.rollout_frame is not None:
        image = load(spec.rollout_frame)(rendered, obs, attention)
    else:
        frame = Image.fromarray(rendered)
        image = Image.new("RGB", (frame.width, frame.height + CAPTION_ROWS), "black")
        image.paste(frame, (0, 0))
    caption = " ".join(filter(None, [model, f"step {step}",
                                     None if action is None else f"action {action}",
                                     f"return {ret:g}"]))
    ImageDraw.Draw(image).text((4, image.height - 14), caption, fill="white")
    return np.asarray(image)


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = 15) -> Path:
    """Frames to a looping GIF (Pillow) or an MP4 (OpenCV), by the path's suffix."""
    path = Path(path)
    if path.suffix not in VIDEO_SUFFIXES:
        raise RolloutError(f"video must end in {' or '.join(VIDEO_SUFFIXES)}, got {path.name!r}")
    if not frames:
        raise RolloutError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=1000 // fps,
                       loop=0)
        return path
    import cv2

    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    try:
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        writer.release()
    return path


__all__ = [
    "Episode",
    "RolloutError",
    "draw_frame",
    "load_module",
    "make_env",
    "module_dir",
    "rollout",
    "write_video",
]
