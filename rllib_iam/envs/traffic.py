"""The paper's Traffic task: one traffic light, six cars looping on a figure eight, on real SUMO.

Two single-lane loops meet at a light (node 0). The agent chooses which approach gets green,
north (L68, action 0) or west (L64, action 1); a switch inserts 6 s of yellow. It sees 30
occupancy cells along the two roads through the junction, not the loops where the cars spend
most of their time, so when a car comes back is hidden state. Reward: minus a tenth of the cars
standing still, each step; 250 steps of 1 s. The rules follow `docs/spec/traffic.md` (the
authors' code at bc52bd2), including its quirks unless ``quirks=False``.

Simulation (`rllib_iam.envs.traffic_sim`): SUMO 1.28 from the pinned ``eclipse-sumo``/``libsumo``
wheels; the network and routes are the project's own files (`rllib_iam.envs.sumo_loop`). libsumo
runs SUMO inside the process and allows one simulation per process, so:

- ``backend="libsumo"`` (default): the first simulation of a process runs in it; every other
  (the other sub-environments of a vector env, a second env in the same process) runs in its own
  child process (`rllib_iam.envs.sumo_worker`), stepped in parallel over a pipe. RLlib's env
  runners can hold any number of these vector envs side by side.
- ``backend="traci"``: every simulation is a SUMO server process driven over TraCI's socket;
  slower, no libsumo needed.

Choices where the spec says "unknown" or leaves room:

- Seeds: ``reset(seed=s)`` makes sub-environment i play episode k with seed s + i + k, both for
  the route draws and SUMO's ``--seed`` (the reference's workers: quirk 3, neighbours share
  episodes); ``quirks=False`` gives each (s, i, k) its own seed. ``reset()`` without a seed
  continues with the next episode; a first ``reset()`` without a seed draws s at random.
- SUMO ``--default.departspeed 0`` and ``--default.speeddev 0`` (the reference's SUMO, built
  from git master in 2021, departed at speed 0).
- Observation values are car counts (0 or 1 in practice, at most 6); ``Box(0, 6, (30,))``.
- The 250-step limit is a truncation unless ``time_limit_as_terminal`` (the paper's training);
  no car left or pending ends the episode as terminated.

Quirks reproduced by default (``quirks=True``), fixed with ``quirks=False``: the light memory
(last state, yellow timer, next green) carries over from one episode to the next (quirk 1;
a seeded ``reset`` starts it afresh, like the reference's constructor); after a yellow the light
goes to the green chosen when the yellow began, whatever the action (quirk 2; clean: the current
action's green); overlapping seeds (quirk 3). Quirks 4 and 5 are properties of the task itself
and stay.

Autoreset: ``NEXT_STEP``, as RLlib 2.60's env runner expects (see `rllib_iam.envs.warehouse`):
the step after an episode ends resets that sub-environment, ignores its action, gives reward 0
and the reset observation (zeros).

Rendering: ``render_mode="rgb_array"`` draws the scene from SUMO (`draw_scene`): the roads, the
cars (red while standing), the light and the 30 observed cells (lit where a car is); the vector
env's ``render()`` gives one frame per simulation, after the first ``reset``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space
from PIL import Image, ImageDraw

from rllib_iam.envs import common, sumo_loop, traffic_sim
from rllib_iam.envs.common import (
    SingleEnv,
    check_actions,
    check_num_envs,
    check_options,
    check_render_mode,
    no_render_mode,
    push_frame,
)
from rllib_iam.envs.traffic_sim import (
    BACKENDS,
    CELL_M,
    COLUMN_I,
    FIRST_CELL,
    LAST_CELL,
    OBS_SIZE,
    ORIGIN_M,
    ROW_J,
    _Local,
    _Remote,
    observe,
)

N_ACTIONS = 2
D_SETS: dict[str, list[int]] = {"reference": [13, 14, 28, 29]}
"""Named IAM d-sets. ``reference``: the last two cells before a car leaves the box southwards
(L61, y 6-14 m) and eastwards (L65, x 58-66 m); those cars come back from the west and north."""
OPTIONS = ("quirks", "time_limit_as_terminal", "frame_stack", "backend")
RENDER_MODES = ("rgb_array",)
"""``human`` comes from ``gymnasium.make``'s `HumanRendering` over these (it needs pygame)."""
RENDER_FPS = 10
"""Ten simulated seconds per second of video."""
PX_PER_M = 4
VIEW_M = (-10.0, 110.0)
"""The drawn square in metres (x and y): the network (0-100 m) and a 10 m margin: 480 px."""
ROAD_M = 6.4
"""Drawn road width: the 3.2 m lane lies right of the edge's line, so both directions fit."""


def resolve_d_set(d_set: str | Sequence[int], obs_size: int = OBS_SIZE) -> list[int]:
    """Turn a Traffic d-set name or index list into a checked list of observation indices."""
    return common.resolve_d_set(d_set, obs_size, named=D_SETS, what="Traffic d-set")


def _check_options(options: dict[str, Any]) -> None:
    check_options("Traffic", options, OPTIONS)
    backend = options.get("backend", "libsumo")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")


class TrafficVectorEnv(gym.vector.VectorEnv):
    """N Traffic simulations stepped side by side (module docstring: processes, seeds, quirks).

    Args:
        num_envs: number of simulations N (>= 1).
        quirks: reproduce the reference code's quirks 1-3 (default True, as the paper ran).
        time_limit_as_terminal: report the 250-step limit as ``terminated`` (the paper's
            training: no bootstrap) instead of ``truncated``.
        frame_stack: k > 1 returns ``[o_t, ..., o_{t-k+1}]`` (newest first, zeros before the
            episode's first frame) as one ``30 * k`` vector: the "FNN (32 obs.)" input.
        backend: ``"libsumo"`` (default) or ``"traci"``.

    Simulations start at the first `reset` (building the env to read its spaces starts none).

    Example:
        >>> import gymnasium as gym, rllib_iam
        >>> envs = gym.make_vec("rllib_iam/Traffic-v0", num_envs=2,
        ...                     vectorization_mode="vector_entry_point")
        >>> obs, info = envs.reset(seed=0)
        >>> obs.shape
        (2, 30)
        >>> envs.close()
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
                "render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **options: Any) -> None:
        _check_options(options)
        self.num_envs = check_num_envs(num_envs)
        self.render_mode = check_render_mode(render_mode, RENDER_MODES)
        self.quirks = bool(options.get("quirks", True))
        self.time_limit_as_terminal = bool(options.get("time_limit_as_terminal", False))
        self.frame_stack = int(options.get("frame_stack", 1))
        self.backend = options.get("backend", "libsumo")

        self.single_observation_space = gym.spaces.Box(
            0.0, float(sumo_loop.N_CARS), (OBS_SIZE * self.frame_stack,), np.float32
        )
        self.single_action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        n = self.num_envs
        self._sims: list[_Local | _Remote] = []
        self._base_seed = 0
        self.episode = np.zeros(n, dtype=np.int64)
        """Episodes each sub-environment has started since the last seeded reset, minus one."""
        self._frames = np.zeros((n, self.frame_stack, OBS_SIZE), dtype=np.float32)
        self._done = np.zeros(n, dtype=bool)

    # -- public gymnasium API ------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, (list, tuple)):
            seed = seed[0]
        super().reset(seed=seed)
        fresh = seed is not None or not self._sims
        if fresh:
            self._base_seed = (
                int(seed) if seed is not None else int(self.np_random.integers(2**30))
            )
            self.episode[:] = 0
        else:
            self.episode += 1
        self._start_sims()
        for i, sim in enumerate(self._sims):
            sim.submit("reset", self.episode_seed(i), fresh)
        obs = np.stack([sim.result() for sim in self._sims])
        self._done[:] = False
        return self._stacked(obs, np.ones(self.num_envs, dtype=bool)), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._sims:
            raise RuntimeError("call reset() before step()")
        actions = check_actions(actions, self.num_envs, N_ACTIONS, "0 north green, 1 west green")
        resetting = self._done.copy()
        self.episode[resetting] += 1
        for i, sim in enumerate(self._sims):
            if resetting[i]:
                sim.submit("reset", self.episode_seed(i), False)
            else:
                sim.submit("step", int(actions[i]))
        n = self.num_envs
        obs = np.zeros((n, OBS_SIZE), dtype=np.float32)
        reward = np.zeros(n)
        no_cars, time_up = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for i, sim in enumerate(self._sims):
            if resetting[i]:
                obs[i] = sim.result()
            else:
                obs[i], reward[i], no_cars[i], time_up[i] = sim.result()
        if self.time_limit_as_terminal:
            terminated, truncated = no_cars | time_up, np.zeros(n, dtype=bool)
        else:
            terminated, truncated = no_cars, time_up & ~no_cars
        self._done = terminated | truncated
        return self._stacked(obs, resetting), reward, terminated, truncated, {}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One RGB frame (480 x 480 x 3, uint8) per simulation, drawn by `draw_scene`."""
        if self.render_mode is None:
            return no_render_mode(self)
        if not self._sims:
            raise RuntimeError("call reset() before render()")
        for sim in self._sims:
            sim.submit("scene")
        return tuple(draw_scene(*sim.result()) for sim in self._sims)

    def close_extras(self, **kwargs: Any) -> None:
        sims, self._sims = self._sims, []
        for sim in sims:
            sim.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close_extras()

    def episode_seed(self, i: int) -> int:
        """The seed of sub-environment i's current episode (route draws and SUMO's --seed)."""
        k = int(self.episode[i])
        if self.quirks:
            return self._base_seed + i + k
        return int(np.random.SeedSequence([self._base_seed, i, k]).generate_state(1)[0] >> 1)

    # -- internals -----------------------------------------------------------------------------
    def _start_sims(self) -> None:
        """Sub-environment 0 in this process when libsumo is free here (or on traci), the
        others in worker processes."""
        if self._sims:
            return
        local = self.backend == "traci" or not traffic_sim._libsumo_in_use
        sims: list[_Local | _Remote] = []
        try:
            for i in range(self.num_envs):
                if self.backend == "traci" or (i == 0 and local):
                    sims.append(_Local(self.backend, self.quirks))
                else:
                    sims.append(_Remote(self.backend, self.quirks))
            for sim in sims:  # the workers start in parallel; wait for each one's "init"
                if isinstance(sim, _Remote):
                    sim.result()
        except BaseException:
            for sim in sims:
                sim.close()
            raise
        self._sims = sims

    def _stacked(self, obs: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        return obs if self.frame_stack == 1 else push_frame(self._frames, obs, fresh)


def _px(x: float, y: float) -> tuple[float, float]:
    """Image coordinates of a point in metres (SUMO's y points up, the image's down)."""
    return (x - VIEW_M[0]) * PX_PER_M, (VIEW_M[1] - y) * PX_PER_M


def draw_scene(
    positions: Sequence[tuple[float, float]], halted: Sequence[bool], light: str, time: float
) -> np.ndarray:
    """An RGB frame (480 x 480 x 3, uint8) of one simulation: roads grey, the observed cells
    outlined (yellow where `observe` counts a car), the cars at their front `positions`
    (red where `halted`, else white), the light's colour at each stop line (`light` as SUMO
    gives it: links 0-1 the north approach, 2-3 the west) and the time."""
    side = int((VIEW_M[1] - VIEW_M[0]) * PX_PER_M)
    image = Image.new("RGB", (side, side), (25, 60, 30))
    pen = ImageDraw.Draw(image)
    nodes, half = sumo_loop.NODE_XY, ROAD_M / 2
    for _, start, end in sumo_loop.EDGE_ENDS:  # every edge is horizontal or vertical
        (x0, y0), (x1, y1) = nodes[start], nodes[end]
        pen.rectangle((*_px(min(x0, x1) - half, max(y0, y1) + half),
                       *_px(max(x0, x1) + half, min(y0, y1) - half)), fill=(110, 110, 110))
    seen = observe(positions)
    cells = [(COLUMN_I, j) for j in range(LAST_CELL, FIRST_CELL - 1, -1)]
    cells += [(i, ROW_J) for i in range(FIRST_CELL, LAST_CELL + 1)]
    for k, (i, j) in enumerate(cells):
        x0, y0 = ORIGIN_M + CELL_M * i, ORIGIN_M + CELL_M * j
        box = (*_px(x0, y0 + CELL_M), *_px(x0 + CELL_M, y0))
        pen.rectangle(box, outline=(200, 200, 80), fill=(230, 200, 40) if seen[k] else None)
    colours = {"G": (0, 200, 0), "g": (0, 200, 0), "y": (240, 200, 0), "r": (220, 0, 0)}
    for signal, (x, y) in ((light[0], (38.4, 44.0)), (light[2], (32.8, 38.4))):
        cx, cy = _px(x, y)
        r = 1.6 * PX_PER_M
        pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colours.get(signal, (0, 0, 0)))
    for (x, y), standing in zip(positions, halted, strict=True):
        cx, cy = _px(x, y)
        r = 1.5 * PX_PER_M
        pen.ellipse((cx - r, cy - r, cx + r, cy + r),
                    fill=(230, 30, 30) if standing else (245, 245, 245), outline="black")
    pen.text((6, 6), f"t {time:g} s  light {light}", fill="white")
    return np.asarray(image)


class TrafficEnv(SingleEnv):
    """One Traffic simulation for ``gymnasium.make``: the vector code with N = 1, no autoreset.

    Example:
        >>> import gymnasium as gym, rllib_iam
        >>> env = gym.make("rllib_iam/Traffic-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        (30,)
        >>> env.close()
    """

    VECTOR = TrafficVectorEnv
    metadata = {"render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}
