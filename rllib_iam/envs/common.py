"""What the environments share: the option, size, action and render-mode checks, d-set
resolution, frame stacking, and the single-environment view that `gymnasium.make` gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np


def check_num_envs(num_envs: Any) -> int:
    """`num_envs` as an int >= 1, or a one-line ValueError."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)):
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    return int(num_envs)


def check_options(env: str, options: dict[str, Any], valid: tuple[str, ...]) -> None:
    """A one-line ValueError for an option name outside `valid` (naming them) or a
    ``frame_stack`` that is not an integer >= 1; `env` names the environment in the message."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown {env} option(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    check_int_option(options, "frame_stack", 1)


def check_int_option(options: dict[str, Any], key: str, least: int) -> None:
    """A one-line ValueError unless ``options[key]``, where given, is an integer >= `least`."""
    value = options.get(key, least)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{key} must be an integer >= {least}, got {value!r}")


def check_render_mode(render_mode: Any, modes: tuple[str, ...]) -> str | None:
    """`render_mode` if it is None or one of `modes`, else a one-line ValueError naming them."""
    if render_mode is not None and render_mode not in modes:
        valid = ", ".join(repr(m) for m in modes)
        raise ValueError(f"render_mode must be {valid} or None, got {render_mode!r}")
    return render_mode


def no_render_mode(env: gym.Env | gym.vector.VectorEnv) -> None:
    """What ``render()`` does without a render mode, as gymnasium's own envs: warn, draw nothing."""
    gym.logger.warn(
        f"{type(env).__name__}.render() without a render mode draws nothing; make the env "
        "with render_mode='rgb_array'"
    )


def check_actions(actions: Any, num_envs: int, n_actions: int, meaning: str) -> np.ndarray:
    """`actions` as an integer array of `num_envs` values in ``Discrete(n_actions)``, or a
    one-line ValueError that names the valid values (`meaning`, e.g. ``"0 up, 1 down"``)."""
    a = np.asarray(actions)
    if a.shape != (num_envs,) or a.dtype.kind not in "iu" or a.min() < 0 or a.max() >= n_actions:
        raise ValueError(
            f"actions must be {num_envs} integer(s) in Discrete({n_actions}) "
            f"({meaning}); got {a.tolist()!r}"
        )
    return a


def resolve_d_set(d_set: str | Sequence[int], obs_size: int, named: dict[str, list[int]],
                  what: str = "d-set") -> list[int]:
    """Turn a d-set name (of `named`) or index list into a checked list of observation indices;
    `what` names the d-sets in the message (e.g. ``"Traffic d-set"``)."""
    if isinstance(d_set, str):
        if d_set not in named:
            valid = ", ".join(named) or "none (give a list of indices)"
            raise ValueError(f"unknown {what} {d_set!r}; valid names: {valid}")
        return list(named[d_set])
    indices = [int(i) for i in d_set]
    bad = [i for i in indices if not 0 <= i < obs_size]
    if bad or not indices:
        raise ValueError(
            f"d-set indices must be a non-empty list within [0, {obs_size}); got bad {bad}"
        )
    return indices


def push_frame(frames: np.ndarray, obs: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """Shift `obs` (N, D) into the `frames` history (N, k, D) in place, newest first, with
    zeros before the first frame of the rows in `fresh` (episodes that just began); returns a
    new (N, k * D) array."""
    frames[:, 1:] = frames[:, :-1]
    frames[fresh, 1:] = 0.0
    frames[:, 0] = obs
    return frames.reshape(len(frames), -1).copy()


class SingleEnv(gym.Env):
    """One environment for ``gymnasium.make``: the vector code with N = 1, without autoreset.

    Subclasses set `VECTOR`, the vector env class (built with ``num_envs=1``, the render mode
    and the options), and `metadata` (what ``gymnasium.make`` reads before building the env:
    its render modes and frame rate).
    """

    VECTOR: ClassVar[type]
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, render_mode: str | None = None, **options: Any) -> None:
        self._vec = self.VECTOR(1, render_mode=render_mode, **options)
        self.render_mode = self._vec.render_mode
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self._vec.reset(seed=seed)
        return obs[0], self._unbatch(info)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        vec = self._vec
        if vec._done[0]:
            raise RuntimeError("the episode has ended: call reset() before step()")
        obs, reward, terminated, truncated, info = vec.step(np.array([action]).reshape(1))
        info = self._unbatch(info)
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        """The current state as an RGB frame (H x W x 3, uint8) in ``rgb_array`` mode."""
        frames = self._vec.render()
        return None if frames is None else frames[0]

    def close(self) -> None:
        self._vec.close()

    @staticmethod
    def _unbatch(info: dict[str, Any]) -> dict[str, Any]:
        return {k: v[0] for k, v in info.items() if not k.startswith("_")}
