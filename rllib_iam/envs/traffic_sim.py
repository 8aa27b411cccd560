"""The Traffic task's SUMO side: one simulation with the reference's rules, and where it runs.

`TrafficSim` is one SUMO simulation of the project's loop network (`rllib_iam.envs.sumo_loop`)
under the rules of `docs/spec/traffic.md`: `observe` turns the cars' positions into the 30
occupancy cells, `Light` is the reference's light memory, and each step gives the reward (minus a
tenth of the cars standing still) and whether the episode is over. `rllib_iam.envs.traffic`
wraps these simulations as the gymnasium env; nothing here imports gymnasium.

Processes: libsumo runs SUMO inside the process and allows one simulation per process
(`_libsumo_in_use`). `_Local` holds a `TrafficSim` in this process and `_Remote` one in a child
process (`rllib_iam.envs.sumo_worker`), both behind the same ``submit``/``result`` calls, so that
the env can start a step on every simulation and then collect the results. ``backend="traci"``
drives a SUMO server process over TraCI's socket instead (any number per process).
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

import numpy as np

from rllib_iam.envs import sumo_loop

OBS_SIZE = 30
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
BACKENDS = ("libsumo", "traci")
HALTED_SPEED = 0.1
"""SUMO's waiting threshold (m/s): a car this slow counts as standing (the reward's count)."""


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
