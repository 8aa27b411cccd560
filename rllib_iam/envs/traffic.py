"""The paper's Traffic task: one traffic light, six cars looping on a figure eight, on real SUMO.

Two single-lane loops meet at a light (node 0). The agent chooses which approach gets green,
north (L68, action 0) or west (L64, action 1); a switch inserts 6 s of yellow. It sees 30
occupancy cells along the two roads through the junction, not the loops where the cars spend
most of their time, so when a car comes back is hidden state. Reward: minus a tenth of the cars
standing still, each step; 250 steps of 1 s. The rules follow `docs/spec/traffic.md` (the
authors' code at bc52bd2), including its quirks unless ``quirks=False``.

Simulation: SUMO 1.28 from the pinned ``eclipse-sumo``/``libsumo`` wheels; the network and
routes are the project's own files (`rllib_iam.envs.sumo_loop`). libsumo runs SUMO inside the
process and allows one simulation per process, so:

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
import io
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space
from PIL import Image, ImageDraw

from rllib_iam.envs import common, sumo_loop
from rllib_iam.envs.common import (
    SingleEnv,
    check_actions,
    check_num_envs,
    check_options,
    check_render_mode,
    no_render_mode,
    push_frame,
)

OBS_SIZE = 30
N_ACTIONS = 2
EPISODE_LENGTH = 250
"""Steps of 1 s; the episode ends when SUMO's clock reaches 250 s."""
GREENS = ("GGrr", "rrGG")
"""Action -> light state: 0 north approach (L68) green, 1 west approach (L64) green."""
YELLOW_TIMER = 5
"""Steps of yellow after the first: a switch gives 6 s of yellow, then the new green."""
CELL_M = 4.0
ORIGIN_M = -10.0
COLUMN_I = ROW_J = 12
"""The map's column 8 (x 38-42 m) and row 6 (y 38-42 m) hold the two roads through node 0."""
FIRST_CELL, LAST_CELL = 4, 18
D_SETS: dict[str, list[int]] = {"reference": [13, 14, 28, 29]}
"""Named IAM d-sets. ``reference``: the last two cells before a car leaves the box southwards
(L61, y 6-14 m) and eastwards (L65, x 58-66 m); those cars come back from the west and north."""
OPTIONS = ("quirks", "time_limit_as_terminal", "frame_stack", "backend")
BACKENDS = ("libsumo", "traci")
RENDER_MODES = ("rgb_array",)
"""``human`` comes from ``gymnasium.make``'s `HumanRendering` over these (it needs pygame)."""
RENDER_FPS = 10
"""Ten simulated seconds per second of video."""
PX_PER_M = 4
VIEW_M = (-10.0, 110.0)
"""The drawn square in metres (x and y): the network (0-100 m) and a 10 m margin: 480 px."""
ROAD_M = 6.4
"""Drawn road width: the 3.2 m lane lies right of the edge's line, so both directions fit."""
HALTED_SPEED = 0.1
"""SUMO's waiting threshold (m/s): a car this slow counts as standing (the reward's count)."""


def resolve_d_set(d_set: str | Sequence[int], obs_size: int = OBS_SIZE) -> list[int]:
    """Turn a Traffic d-set name or index list into a checked list of observation indices."""
    return common.resolve_d_set(d_set, obs_size, named=D_SETS, what="Traffic d-set")


def cell(metres: float) -> int:
    """The 4 m cell of a coordinate: ``round((x + 10) / 4 - 0.5)``, Python's half-to-even."""
    return round((metres - ORIGIN_M) / CELL_M - 0.5)


def observe(positions: Sequence[tuple[float, float]]) -> np.ndarray:
    """The 30 values from the cars' front positions (x, y) in metres.

    ``[0:15]``: column i = 12 (x 38-42), north to south (j = 18 .. 4): 0-5 the L68 approach
    (5 at the stop line), 6 the junction, 7 its exit, 8-14 L61. ``[15:30]``: row j = 12
    (y 38-42), west to east (i = 4 .. 18): 15-21 the L64 approach (21 at the stop line), 22
    the junction entry, 23 the junction (the same cell as 6), 24-29 L65.
    """
    obs = np.zeros(OBS_SIZE, dtype=np.float32)
    for x, y in positions:
        i, j = cell(x), cell(y)
        if i == COLUMN_I and FIRST_CELL <= j <= LAST_CELL:
            obs[LAST_CELL - j] += 1.0
        if j == ROW_J and FIRST_CELL <= i <= LAST_CELL:
            obs[15 + i - FIRST_CELL] += 1.0
    return obs


class Light:
    """The reference's light memory: the last state set, the yellow timer, the next green."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.timer = 0
        self.next_green = GREENS[0]

    def step(self, action: int, quirks: bool = True) -> str:
        """The state to set for `action` (docs/spec/traffic.md, "Actions and the light")."""
        wanted = GREENS[action]
        if self.state is None:
            self.state = wanted
        elif "y" not in self.state:
            if wanted != self.state:
                self.next_green = wanted
                self.state = self.state.replace("G", "y")
                self.timer = YELLOW_TIMER
        elif self.timer > 0:
            self.timer -= 1
        else:
            self.state = self.next_green if quirks else wanted
        return self.state


def _import_libsumo():
    """libsumo, with the note it prints on import (a pyarrow version hint) kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        import libsumo
    return libsumo


_libsumo_in_use = False
"""Whether this process's one libsumo simulation is taken."""
_labels = itertools.count()


class TrafficSim:
    """One SUMO simulation of the loop network with the reference's rules, in this process.

    `reset` loads an episode, `step` sets the light and advances SUMO by 1 s. The light memory
    lives here, across episodes (quirk 1) unless ``quirks=False`` or ``reset(fresh=True)``.
    """

    def __init__(self, backend: str = "libsumo", quirks: bool = True) -> None:
        global _libsumo_in_use
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if backend == "libsumo" and _libsumo_in_use:
            raise RuntimeError("this process already runs a libsumo simulation (one per process)")
        self.backend = backend
        self.quirks = quirks
        self.light = Light()
        self.sumo: Any = None
        if backend == "libsumo":
            _libsumo_in_use = True
        self.episode_seed: int | None = None

    def _load(self, args: list[str]) -> None:
        if self.sumo is not None:
            self.sumo.load(args)
        elif self.backend == "libsumo":
            self.sumo = _import_libsumo()
            self.sumo.start([sumo_loop.binary("sumo"), *args])
        else:
            import traci

            label = f"rllib-iam-{os.getpid()}-{next(_labels)}"
            traci.start([sumo_loop.binary("sumo"), *args], label=label)
            self.sumo = traci.getConnection(label)

    def reset(self, seed: int, fresh: bool = False) -> np.ndarray:
        """Start the episode of `seed` (route draws and SUMO's ``--seed``); zeros observed."""
        self._load(sumo_loop.sumo_args(sumo_loop.draw_routes(seed), seed))
        self.episode_seed = seed
        if fresh or not self.quirks:
            self.light = Light()
        return np.zeros(OBS_SIZE, dtype=np.float32)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        """Set the light for `action`, advance 1 s; (obs, reward, no car left, time is up)."""
        sumo = self.sumo
        sumo.trafficlight.setRedYellowGreenState(sumo_loop.TLS_ID,
                                                 self.light.step(action, self.quirks))
        sumo.simulationStep()
        return self.observe()

    def observe(self) -> tuple[np.ndarray, float, bool, bool]:
        vehicle = self.sumo.vehicle
        ids = vehicle.getIDList()
        obs = observe([vehicle.getPosition(v) for v in ids])
        waiting = sum(min(vehicle.getWaitingTime(v), 1.0) for v in ids)
        simulation = self.sumo.simulation
        return (obs, -waiting / 10.0, simulation.getMinExpectedNumber() == 0,
                simulation.getTime() >= EPISODE_LENGTH)

    def scene(self) -> tuple[list[tuple[float, float]], list[bool], str, float]:
        """What `draw_scene` draws: the cars' front positions (m), whether each stands, the
        light's state in SUMO and the simulated time (s)."""
        vehicle = self.sumo.vehicle
        ids = vehicle.getIDList()
        return ([tuple(vehicle.getPosition(v)) for v in ids],
                [vehicle.getSpeed(v) < HALTED_SPEED for v in ids],
                self.sumo.trafficlight.getRedYellowGreenState(sumo_loop.TLS_ID),
                float(self.sumo.simulation.getTime()))

    def close(self) -> None:
        global _libsumo_in_use
        if self.sumo is not None:
            with contextlib.suppress(Exception):
                self.sumo.close()
            self.sumo = None
        if self.backend == "libsumo" and _libsumo_in_use:
            _libsumo_in_use = False
            self.backend = "closed"


class _Local:
    """A `TrafficSim` in this process behind the same submit/result calls as `_Remote`."""

    def __init__(self, backend: str, quirks: bool) -> None:
        self.sim = TrafficSim(backend, quirks)
        self._result: Any = None

    def submit(self, method: str, *args: Any) -> None:
        self._result = getattr(self.sim, method)(*args)

    def result(self) -> Any:
        return self._result

    def close(self) -> None:
        self.sim.close()


class _Remote:
    """A `TrafficSim` in a child process (`rllib_iam.envs.sumo_worker`)."""

    def __init__(self, backend: str, quirks: bool) -> None:
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rllib_iam.envs.sumo_worker", str(to_child), str(from_child)],
            pass_fds=(to_child, from_child),
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self.outbox = Connection(from_parent, readable=False)
        self.inbox = Connection(to_parent, writable=False)
        self.submit("init", backend, quirks)  # acknowledged by the first result()

    def submit(self, method: str, *args: Any) -> None:
        self.outbox.send((method, args))

    def result(self) -> Any:
        try:
            status, value = self.inbox.recv()
        except EOFError:
            raise RuntimeError(
                f"the SUMO worker process exited (status {self.process.poll()})"
            ) from None
        if status != "ok":
            raise RuntimeError(f"SUMO worker: {value}")
        return value

    def close(self) -> None:
        """Ask the worker to stop; a daemon thread reaps it when it has exited."""
        with contextlib.suppress(OSError):
            self.outbox.send(("close", ()))
        self.outbox.close()
        self.inbox.close()
        threading.Thread(target=self.process.wait, daemon=True).start()


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
        local = self.backend == "traci" or not _libsumo_in_use
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
