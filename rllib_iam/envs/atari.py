"""Flickering Atari (Pong, Breakout) with the DeepMind preprocessing: the paper's image tasks.

The chain, innermost first, uses gymnasium's and ale-py's own pieces where they exist:

1. ale-py's ``ALE/<Game>-v5`` with ``frameskip=1``, no sticky actions, the minimal action set and
   the usual 108,000-frame (30 minutes) cap;
2. gymnasium's `AtariPreprocessing`: up to 30 no-ops at reset, frame skip 4 with a max over the
   last two frames, 84x84 greyscale (uint8);
3. `DeepMindAtari` (here: what gymnasium lacks): episodic life, reward clipping, flicker, and the
   game score in ``info``;
4. gymnasium's `FrameStackObservation`: the last k frames, oldest first, shape ``(k, 84, 84)``
   (k = 1 by default, so the observation is always channels-first).

Training sees lives as episodes and clipped rewards (DeepMind's setup), so RLlib's own
``episode_return_mean`` is a per-life clipped return. The score that matters, the whole game's
unclipped score, is put in ``info[GAME_SCORE]`` at the step a game ends; `GameScore` (an RLlib
callback) logs it as ``env_runners/game_score`` (a windowed mean), which the Figure 5 record
reads for Atari.
With ``episodic_life=False, clip_rewards=False`` (evaluation, `experiments/rollout.py`) the two
returns coincide.

Randomness: ``reset(seed=s)`` seeds the emulator, the no-op draws and, from its own stream
(``default_rng([FLICKER_STREAM, s])``), the flicker; the same seed repeats a run exactly.

Autoreset (vector env): ``NEXT_STEP``, as for Warehouse.

Rendering: ``render_mode`` goes to ale-py, which has ``rgb_array`` (the emulator's 210x160
colour screen, not the agent's flickered 84x84 view) and ``human`` (its own SDL window);
``render_fps`` is 15, one frame per agent step of 4 emulator frames at 60 Hz. A rollout's video
(`rollout_frame`) shows the screen beside the frame the agent saw, with attention weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation
from PIL import Image

from rllib_iam.envs.common import check_int_option, check_options, check_render_mode
from rllib_iam.envs.registry import GAME_SCORE

gym.register_envs(ale_py)

GAMES = {"Pong": "ALE/Pong-v5", "Breakout": "ALE/Breakout-v5"}
"""Our game name -> ale-py's gymnasium id."""
FLICKER_STREAM = 0x466C6963
"""Separates the flicker's generator from the no-op generator seeded with the same seed."""
"""Info key (at a game's last step) and metric name: the whole game's unclipped score."""
FRAME_SIZE = 84
MAX_FRAMES = 108_000
FRAME_SKIP = 4
RENDER_MODES = ("rgb_array", "human")
"""What ale-py renders (and so these envs advertise)."""
RENDER_FPS = 60 // FRAME_SKIP

OPTIONS = (
    "flicker",
    "frame_stack",
    "episodic_life",
    "clip_rewards",
    "noop_max",
    "time_limit_as_terminal",
)


def _check_options(game: str, options: dict[str, Any]) -> None:
    if game not in GAMES:
        raise ValueError(f"unknown Atari game {game!r}; valid: {', '.join(GAMES)}")
    check_options("Atari", options, OPTIONS)
    check_int_option(options, "noop_max", 0)
    flicker = options.get("flicker", 0.0)
    if isinstance(flicker, bool) or not isinstance(flicker, (int, float)) or not 0 <= flicker < 1:
        raise ValueError(f"flicker must be a probability in [0, 1), got {flicker!r}")


class DeepMindAtari(gym.Wrapper):
    """Episodic life, reward clipping and flicker over `AtariPreprocessing`'s 84x84 frames.

    Args:
        env: an `AtariPreprocessing`-wrapped ALE env.
        flicker: probability that a new frame is replaced by zeros (0 turns flicker off).
        episodic_life: a lost life ends the episode (``terminated``) without ending the game;
            the next ``reset`` continues the game with one no-op step. Only a game over (or the
            frame cap) resets the emulator.
        clip_rewards: rewards become their sign (-1, 0, 1).
        time_limit_as_terminal: report the frame cap as ``terminated`` instead of ``truncated``.
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        flicker: float,
        episodic_life: bool,
        clip_rewards: bool,
        time_limit_as_terminal: bool,
    ) -> None:
        super().__init__(env)
        self.flicker = float(flicker)
        self.episodic_life = bool(episodic_life)
        self.clip_rewards = bool(clip_rewards)
        self.time_limit_as_terminal = bool(time_limit_as_terminal)
        self.metadata = {**env.metadata, "render_modes": list(RENDER_MODES),
                         "render_fps": RENDER_FPS}
        self._flicker_rng = np.random.default_rng()
        self._game_over = True
        self._lives = 0
        self._score = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            self._flicker_rng = np.random.default_rng([FLICKER_STREAM, seed])
        if self._game_over or seed is not None:
            frame, info = self.env.reset(seed=seed, options=options)
            self._game_over = False
            self._score = 0.0
        else:  # a life was lost: the game goes on
            frame, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op itself ended the game: start a new one
                frame, info = self.env.reset()
                self._score = 0.0
        self._lives = self.env.unwrapped.ale.lives()
        return self._flickered(frame), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        frame, reward, terminated, truncated, info = self.env.step(action)
        self._score += float(reward)
        if terminated or truncated:
            self._game_over = True
            info[GAME_SCORE] = self._score
            if truncated and self.time_limit_as_terminal:
                terminated, truncated = True, False
        lives = self.env.unwrapped.ale.lives()
        if self.episodic_life and 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        if self.clip_rewards:
            reward = float(np.sign(reward))
        return self._flickered(frame), float(reward), terminated, truncated, info

    def _flickered(self, frame: np.ndarray) -> np.ndarray:
        if self.flicker and self._flicker_rng.random() < self.flicker:
            return np.zeros_like(frame)
        return frame


def make_atari(game: str, render_mode: str | None = None, **options: Any) -> gym.Env:
    """One preprocessed Atari env; options are `OPTIONS` (see `DeepMindAtari`), `render_mode`
    one of `RENDER_MODES` (module docstring).

    Defaults: no flicker, one frame, episodic life and reward clipping on (training), 30 no-ops.

    Example:
        >>> env = make_atari("Pong", flicker=0.5, frame_stack=4, render_mode="rgb_array")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype, env.action_space, env.render().shape
        ((4, 84, 84), dtype('uint8'), Discrete(6), (210, 160, 3))
    """
    _check_options(game, options)
    env = gym.make(
        GAMES[game],
        frameskip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        max_num_frames_per_episode=MAX_FRAMES,
        render_mode=check_render_mode(render_mode, RENDER_MODES),
    )
    env = AtariPreprocessing(
        env, noop_max=int(options.get("noop_max", 30)), frame_skip=FRAME_SKIP,
        screen_size=FRAME_SIZE,
    )
    env = DeepMindAtari(
        env,
        flicker=options.get("flicker", 0.0),
        episodic_life=options.get("episodic_life", True),
        clip_rewards=options.get("clip_rewards", True),
        time_limit_as_terminal=options.get("time_limit_as_terminal", False),
    )
    return FrameStackObservation(env, int(options.get("frame_stack", 1)), padding_type="zero")


make_atari.metadata = {"render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}
"""Read by ``gymnasium.make`` before it calls `make_atari` (e.g. to add `RenderCollection` for
``render_mode="rgb_array_list"``)."""


def make_atari_vector(
    game: str, num_envs: int = 1, render_mode: str | None = None, **options: Any
) -> gym.vector.SyncVectorEnv:
    """``num_envs`` copies of `make_atari` in one `SyncVectorEnv` (autoreset ``NEXT_STEP``);
    its ``render()`` gives one frame per copy."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    _check_options(game, options)
    check_render_mode(render_mode, RENDER_MODES)
    factories: list[Callable[[], gym.Env]] = [
        lambda: make_atari(game, render_mode=render_mode, **options) for _ in range(int(num_envs))
    ]
    return gym.vector.SyncVectorEnv(factories, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)


SCALE = 4
"""Pixels per observation pixel in a rollout frame's observation (84 -> 336)."""
ATTENTION_FULL = 8
"""A region weighted this many times the uniform 1/49 is drawn fully red."""


def rollout_frame(
    screen: np.ndarray, obs: np.ndarray, attention: np.ndarray | None
) -> Image.Image:
    """A rollout's frame: the emulator's `screen` (left) beside the newest observed frame,
    flicker and all, with the 7x7 attention weights as a red overlay (each map cell stands for
    a 12x12 patch). The red is absolute: faint at the uniform weight 1/49, full at
    `ATTENTION_FULL` times it. 16 rows below are left for `rllib_iam.rollout`'s caption."""
    screen = Image.fromarray(screen).resize((320, 420), Image.NEAREST)
    seen = np.repeat(np.asarray(obs)[-1][..., None], 3, axis=-1).astype(np.float32)
    if attention is not None:
        heat = np.minimum(attention.reshape(7, 7) * 49 / ATTENTION_FULL, 1.0)
        heat = np.kron(heat, np.ones((12, 12)))[..., None] * 0.7
        seen = seen * (1 - heat) + np.array([255.0, 0.0, 0.0]) * heat
    side = FRAME_SIZE * SCALE
    seen_image = Image.fromarray(seen.astype(np.uint8)).resize((side, side), Image.NEAREST)
    canvas = Image.new("RGB", (320 + side, 436), "black")
    canvas.paste(screen, (0, 0))
    canvas.paste(seen_image, (320, 0))
    return canvas
