"""Fixed reference policies for the Warehouse, vectorised over N environments.

They bracket what a learner can reach: ``random`` is the floor, ``greedy`` is what a memoryless
agent can do by walking to the nearest visible item, and ``oracle`` reads the true item ages
(hidden state, from ``info["ages"]``) and skips items it cannot reach before they vanish. Their
returns are drawn as reference lines next to the learning curves: the env's `EnvSpec` names
this module and the committed table (``results/heuristics/<env>.csv``, experiments/heuristics.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from rllib_iam.envs import spec
from rllib_iam.envs.registry import TRAFFIC, WAREHOUSE
from rllib_iam.envs.warehouse import GRID, ITEM_LIFETIME, SHELF_CELLS, WarehouseVectorEnv

Policy = Callable[[np.ndarray, dict, np.random.Generator], np.ndarray]

_SHELF_ROW = SHELF_CELLS[:, 0]
_SHELF_COL = SHELF_CELLS[:, 1]
CENTRE_ROW = CENTRE_COL = GRID // 2
RESULTS_CSV = spec.PROJECT_ROOT / WAREHOUSE.heuristics_table


def random_policy(obs: np.ndarray, info: dict, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 4, len(obs))


def _walk(row: np.ndarray, col: np.ndarray, to_row: np.ndarray, to_col: np.ndarray) -> np.ndarray:
    """One step towards the target, rows first; on the target, push into the wall to stay."""
    stay = np.select(
        [row == 0, row == GRID - 1, col == 0, col == GRID - 1], [0, 1, 2, 3], default=0
    )
    horizontal = np.where(to_col < col, 2, 3)
    vertical = np.where(to_row < row, 0, 1)
    return np.where(
        to_row != row, vertical, np.where(to_col != col, horizontal, stay)
    ).astype(np.int64)


def _go_to_best(obs: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Walk to the shelf with the lowest finite score; with none, back to the centre."""
    cell = obs[:, : GRID * GRID].argmax(axis=1)
    row, col = cell // GRID, cell % GRID
    target = score.argmin(axis=1)
    has_target = np.isfinite(score.min(axis=1))
    to_row = np.where(has_target, _SHELF_ROW[target], CENTRE_ROW)
    to_col = np.where(has_target, _SHELF_COL[target], CENTRE_COL)
    return _walk(row, col, to_row, to_col)


def _distances(obs: np.ndarray) -> np.ndarray:
    cell = obs[:, : GRID * GRID].argmax(axis=1)
    row, col = cell // GRID, cell % GRID
    return np.abs(_SHELF_ROW - row[:, None]) + np.abs(_SHELF_COL - col[:, None])


def greedy_policy(obs: np.ndarray, info: dict, rng: np.random.Generator) -> np.ndarray:
    """Nearest visible item (Manhattan distance; ties to the first in observation order)."""
    visible = obs[:, GRID * GRID : GRID * GRID + len(SHELF_CELLS)] > 0.5
    return _go_to_best(obs, np.where(visible, _distances(obs), np.inf))


def oracle_policy(obs: np.ndarray, info: dict, rng: np.random.Generator) -> np.ndarray:
    """Nearest item that can still be reached before it expires (true ages from ``info``);
    among equally near ones, the oldest. Needs an env made with ``info_ages=True``."""
    ages = info["ages"]
    dist = _distances(obs)
    steps_needed = np.maximum(dist, 1)
    reachable = (ages >= 0) & (ages + steps_needed <= ITEM_LIFETIME)
    score = dist - ages / (ITEM_LIFETIME + 2.0)  # older wins ties
    return _go_to_best(obs, np.where(reachable, score, np.inf))


POLICIES: dict[str, Policy] = {
    "random": random_policy,
    "greedy": greedy_policy,
    "oracle": oracle_policy,
}


def evaluate(
    policy: str, episodes: int = 1000, quirks: bool = True, seed: int = 0
) -> tuple[float, float]:
    """Mean episode return and its standard error over ``episodes`` episodes (run side by
    side in one vector env)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; valid: {', '.join(POLICIES)}")
    act = POLICIES[policy]
    rng = np.random.default_rng(seed)
    env = WarehouseVectorEnv(episodes, quirks=quirks, info_ages=True)
    obs, info = env.reset(seed=seed)
    returns = np.zeros(episodes)
    done = np.zeros(episodes, dtype=bool)
    while not done.all():
        obs, reward, terminated, truncated, info = env.step(act(obs, info, rng))
        returns += reward
        done = terminated | truncated
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(episodes))


def load_reference(path: Path = RESULTS_CSV) -> dict[tuple[str, bool], float]:
    """The committed heuristic returns: ``{(policy, quirks): mean return}``."""
    return spec.load_reference(path)


# -- Traffic ------------------------------------------------------------------------------------
TRAFFIC_CSV = spec.PROJECT_ROOT / TRAFFIC.heuristics_table
FIXED_CYCLE_SWEEP = (7, 8, 10, 12, 15, 20, 25, 30, 40, 60)
"""Periods k tried for the fixed-cycle light (a switch costs 6 s of yellow, so k > 6)."""
NORTH_APPROACH = slice(0, 6)
"""Observation cells of the north approach, L68 (5 at the stop line)."""
WEST_APPROACH = slice(15, 22)
"""Observation cells of the west approach, L64 (21 at the stop line)."""


class TrafficPolicy:
    """A Traffic controller over N envs; ``fresh`` marks rows whose episode starts now."""

    name: str

    def __call__(self, obs: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class RandomLight(TrafficPolicy):
    """Uniformly random green each step."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, 2, len(obs))


class FixedCycle(TrafficPolicy):
    """Ask for north green for k steps, then west green for k steps, and so on (the light adds
    the 6 s yellow of each switch)."""

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        self.name = f"fixed_cycle_k{period}"
        self.t: np.ndarray | None = None

    def __call__(self, obs: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        if self.t is None:
            self.t = np.zeros(len(obs), dtype=np.int64)
        self.t[fresh] = 0
        action = (self.t // self.period) % 2
        self.t += 1
        return action


class LongestQueueFirst(TrafficPolicy):
    """Green for the approach with more cars in view (the observation's approach cells); on a
    tie, keep asking for the same green (no needless yellow)."""

    name = "longest_queue"

    def __init__(self) -> None:
        self.last: np.ndarray | None = None

    def __call__(self, obs: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        if self.last is None:
            self.last = np.zeros(len(obs), dtype=np.int64)
        self.last[fresh] = 0
        frame = obs[:, :30]  # the newest frame when the env stacks frames
        north = frame[:, NORTH_APPROACH].sum(axis=1)
        west = frame[:, WEST_APPROACH].sum(axis=1)
        self.last = np.where(north > west, 0, np.where(west > north, 1, self.last))
        return self.last


def evaluate_traffic(
    policy: TrafficPolicy, episodes: int = 64, quirks: bool = True, seed: int = 0,
    num_envs: int = 8,
) -> tuple[float, float]:
    """Mean return and standard error over `episodes` Traffic episodes with seeds
    ``seed .. seed + episodes - 1``, `num_envs` at a time, each batch from a seeded reset (so
    every episode is distinct and starts with a fresh light)."""
    from rllib_iam.envs.traffic import TrafficVectorEnv

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = TrafficVectorEnv(min(num_envs, episodes), quirks=quirks)
    returns: list[float] = []
    try:
        while len(returns) < episodes:
            n = min(env.num_envs, episodes - len(returns))
            obs, _ = env.reset(seed=seed + len(returns))
            total, done = np.zeros(env.num_envs), np.zeros(env.num_envs, dtype=bool)
            fresh = np.ones(env.num_envs, dtype=bool)
            while not done[:n].all():
                obs, reward, terminated, truncated, _ = env.step(policy(obs, fresh))
                fresh = np.zeros(env.num_envs, dtype=bool)
                total += np.where(done, 0.0, reward)
                done |= terminated | truncated
            returns += total[:n].tolist()
    finally:
        env.close()
    values = np.array(returns)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def best_fixed_cycle(
    periods: tuple[int, ...] = FIXED_CYCLE_SWEEP, episodes: int = 32, seed: int = 0
) -> tuple[int, dict[int, float]]:
    """The period with the highest mean return on `episodes` sweep episodes, and every mean."""
    means = {k: evaluate_traffic(FixedCycle(k), episodes, True, seed)[0] for k in periods}
    return max(means, key=means.get), means
