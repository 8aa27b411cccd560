"""The paper's Warehouse task as a native numpy vector environment.

One robot on a 7x7 grid collects items that appear on the 24 perimeter shelves and vanish after
8 steps. Item ages are the hidden state: the observation shows only presence bits, so an agent
must remember how long an item has been visible. The rules follow `shared/spec/warehouse.md`
(the authors' code at its final commit), including its quirks unless ``quirks=False``.

``WarehouseVectorEnv`` steps N warehouses with array operations only; ``WarehouseEnv`` is the
single-environment view of the same code for ``gymnasium.make``.

Autoreset: ``NEXT_STEP`` (gymnasium's default). RLlib 2.60's ``SingleAgentEnvRunner`` expects
it: after a sub-environment reports the end of an episode, the next ``step`` call resets that
sub-environment (its action is ignored, its reward is 0) and returns the first observation of
the new episode, which the runner records with ``add_env_reset``.

Randomness: one generator per vector env, seeded by ``reset(seed=...)``. Every step draws a
``(N, 28)`` block of uniforms (row i belongs to sub-environment i, whether it steps or resets),
so runs repeat exactly for the same seed and N, and no two sub-environments share a draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from rllib_iam.envs.common import SingleEnv, check_actions, check_num_envs, push_frame

GRID = 7
CENTRE = 3 * GRID + 3
EPISODE_LENGTH = 100
ITEM_LIFETIME = 8
SPAWN_PROBABILITY = 0.05
N_ACTIONS = 4
N_SHELVES = 24
OBS_SIZE = GRID * GRID + N_SHELVES
N_DRAWS = 28
ACTION_MEANING = "0 up, 1 down, 2 left, 3 right"

# Shelf cells in observation order: row 0, row 6, then rows 1..5 at cols 0 and 6 interleaved.
SHELF_CELLS: np.ndarray = np.array(
    [(0, c) for c in range(GRID)]
    + [(GRID - 1, c) for c in range(GRID)]
    + [(r, c) for r in range(1, GRID - 1) for c in (0, GRID - 1)],
    dtype=np.int64,
)
_SHELF_OF_CELL = np.full(GRID * GRID, -1, dtype=np.int64)
_SHELF_OF_CELL[SHELF_CELLS[:, 0] * GRID + SHELF_CELLS[:, 1]] = np.arange(N_SHELVES)


def _shelves(cells: list[tuple[int, int]]) -> np.ndarray:
    return _SHELF_OF_CELL[[r * GRID + c for r, c in cells]]


# The two spawn passes, each in the order its candidates draw (and items are created):
# pass 1 rows 0 and 6, cols 0..6; pass 2 cols 0 and 6, rows 0..6 (column by column).
SPAWN_PASS_1_CELLS = [(r, c) for r in (0, GRID - 1) for c in range(GRID)]
SPAWN_PASS_2_CELLS = [(r, c) for c in (0, GRID - 1) for r in range(GRID)]
_DRAW_SHELF = _shelves(SPAWN_PASS_1_CELLS + SPAWN_PASS_2_CELLS)
# For each draw: the pass-1 draw of the same cell if this is a pass-2 corner draw, else -1.
_PASS_1_TWIN = np.array(
    [-1] * len(SPAWN_PASS_1_CELLS)
    + [SPAWN_PASS_1_CELLS.index(c) if c in SPAWN_PASS_1_CELLS else -1 for c in SPAWN_PASS_2_CELLS]
)
SPAWN_THRESHOLD = int(np.ceil(SPAWN_PROBABILITY * 2**32))

# Action -> (row delta, col delta): 0 up, 1 down, 2 left, 3 right. A move off the grid stays.
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int64)
_CELLS = np.arange(GRID * GRID)
NEXT_CELL = (
    np.clip(_CELLS[:, None] // GRID + MOVES[None, :, 0], 0, GRID - 1) * GRID
    + np.clip(_CELLS[:, None] % GRID + MOVES[None, :, 1], 0, GRID - 1)
)
"""``NEXT_CELL[cell, action]``: the robot's cell after the move."""

D_SETS: dict[str, list[int]] = {
    "reference": [0, *range(GRID * GRID, OBS_SIZE)],
    "items": list(range(GRID * GRID, OBS_SIZE)),
}
"""Named IAM d-sets. ``reference`` is what produced the paper's curves (index 0, the robot at
the top-left corner, is almost surely a slip for the centre, but it is what ran); ``items`` is
the 24 item bits only."""

OPTIONS = ("quirks", "time_limit_as_terminal", "frame_stack", "info_ages")


def resolve_d_set(d_set: str | Sequence[int], obs_size: int = OBS_SIZE,
                  named: dict[str, list[int]] | None = None, what: str = "d-set") -> list[int]:
    """Turn a d-set name (of `named`, default this env's `D_SETS`) or index list into a checked
    list of observation indices; other envs call it with their own names and sizes."""
    named = D_SETS if named is None else named
    if isinstance(d_set, str):
        if d_set not in named:
            raise ValueError(f"unknown {what} {d_set!r}; valid names: {', '.join(named)}")
        return list(named[d_set])
    indices = [int(i) for i in d_set]
    bad = [i for i in indices if not 0 <= i < obs_size]
    if bad or not indices:
        raise ValueError(
            f"d-set indices must be a non-empty list within [0, {obs_size}); got bad {bad}"
        )
    return indices


def _check_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown Warehouse option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}"
        )
    stack = options.get("frame_stack", 1)
    if isinstance(stack, bool) or not isinstance(stack, (int, np.integer)) or stack < 1:
        raise ValueError(f"frame_stack must be an integer >= 1, got {stack!r}")


class WarehouseVectorEnv(gym.vector.VectorEnv):
    """N Warehouses stepped at once with numpy array operations.

    Args:
        num_envs: number of warehouses N (>= 1).
        quirks: reproduce the reference code's skipped removals (default True, as the paper ran).
        time_limit_as_terminal: report the 100-step limit as ``terminated`` (what the paper's
            training did: no bootstrap) instead of ``truncated`` (gymnasium's meaning).
        frame_stack: k > 1 returns ``[o_t, ..., o_{t-k+1}]`` (newest first, zeros before the
            episode's first frame) as one ``73 * k`` vector: the "FNN (8 obs.)" input.
        info_ages: put the true item ages (hidden state, -1 where no item) in ``info["ages"]``.

    Example:
        >>> import gymnasium as gym, rllib_iam
        >>> envs = gym.make_vec("rllib_iam/Warehouse-v0", num_envs=8,
        ...                     vectorization_mode="vector_entry_point")
        >>> obs, info = envs.reset(seed=0)
        >>> obs.shape
        (8, 73)
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, **options: Any) -> None:
        _check_options(options)
        self.num_envs = check_num_envs(num_envs)
        self.quirks = bool(options.get("quirks", True))
        self.time_limit_as_terminal = bool(options.get("time_limit_as_terminal", False))
        self.frame_stack = int(options.get("frame_stack", 1))
        self.info_ages = bool(options.get("info_ages", False))

        self.single_observation_space = gym.spaces.Box(
            0.0, 1.0, (OBS_SIZE * self.frame_stack,), np.float32
        )
        self.single_action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        n = self.num_envs
        self._row_starts = np.arange(n) * OBS_SIZE
        self.pos = np.full(n, CENTRE, dtype=np.int64)
        self.age = np.full((n, N_SHELVES), -1, dtype=np.int8)
        # Which of the step's 28 draws created each item: with the age, its creation order.
        self.drawn_by = np.zeros((n, N_SHELVES), dtype=np.int8)
        self.t = np.zeros(n, dtype=np.int64)
        self._frames = np.zeros((n, self.frame_stack, OBS_SIZE), dtype=np.float32)
        self._done = np.zeros(n, dtype=bool)

    # -- public gymnasium API ------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, (list, tuple)):
            seed = seed[0]
        super().reset(seed=seed)
        every = np.ones(self.num_envs, dtype=bool)
        self._reset_where(every, self._draw())
        self._done[:] = False
        return self._observe(every), self._info()

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = check_actions(actions, self.num_envs, N_ACTIONS, ACTION_MEANING)
        return self._step(actions, self._draw())

    def _step(self, actions: np.ndarray, draws: np.ndarray):
        resetting = self._done
        reward = self._advance(actions, draws)
        if resetting.any():  # NEXT_STEP autoreset: these rows restart from the same draws
            self._reset_where(resetting, draws)
            reward[resetting] = 0.0
        ended = self.t >= EPISODE_LENGTH
        self._done = ended
        obs = self._observe(resetting)
        if self.time_limit_as_terminal:
            return obs, reward, ended.copy(), np.zeros_like(ended), self._info()
        return obs, reward, np.zeros_like(ended), ended.copy(), self._info()

    # -- the rules -----------------------------------------------------------------------------
    def _draw(self) -> np.ndarray:
        """One ``(N, 28)`` block of 32-bit uniforms k; a candidate spawns where k / 2**32 < 0.05."""
        raw = self.np_random.bit_generator.random_raw(self.num_envs * N_DRAWS // 2)
        return raw.view(np.uint32).reshape(self.num_envs, N_DRAWS)

    def _reset_where(self, mask: np.ndarray, draws: np.ndarray) -> None:
        self.pos[mask] = CENTRE
        self.age[mask] = -1
        self.t[mask] = 0
        rows = None if mask.all() else np.flatnonzero(mask)
        self._spawn(draws, rows)

    def _advance(self, actions: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """Steps 1-6 of the spec for every warehouse (rows about to reset are redone after)."""
        self.pos = NEXT_CELL[self.pos, actions]
        age = self.age
        age += age >= 0

        # The item under the robot, if any: reward before removal.
        robot_env = np.flatnonzero(_SHELF_OF_CELL[self.pos] >= 0)
        robot_flat = robot_env * N_SHELVES + _SHELF_OF_CELL[self.pos[robot_env]]
        flat_age = age.reshape(-1)
        found = flat_age[robot_flat] >= 0
        robot_env, robot_flat = robot_env[found], robot_flat[found]
        reward = np.zeros(self.num_envs)
        reward[robot_env] = 1.0

        expired = np.flatnonzero(flat_age >= ITEM_LIFETIME)  # warehouse by warehouse
        if self.quirks:
            expired, robot_flat = self._skip_after_removal(expired, robot_env, robot_flat)
        flat_age[expired] = -1
        flat_age[robot_flat] = -1

        self.t += 1
        self._spawn(draws, None)
        return reward

    def _creation_key(self, flat: np.ndarray) -> np.ndarray:
        """Smaller key = created earlier: older first, then by the draw that created it."""
        age = self.age.reshape(-1)[flat].astype(np.int64)
        return (127 - age) * 32 + self.drawn_by.reshape(-1)[flat]

    def _skip_after_removal(self, expired, robot_env, robot_flat):
        """Quirk 1: the reference removes from the list it iterates over (creation order), so
        the item after a removed one is not examined. The candidates are the expired items,
        which are the oldest and so come first, plus the item under the robot. In the run of
        expired items every other one is removed (the 1st, 3rd, ... in creation order); the
        robot's item, if it is not expired, is skipped only when it directly follows an
        odd-length run of expired items. Takes and returns flat (warehouse, shelf) indices;
        `expired` is grouped by warehouse."""
        exp_env = expired // N_SHELVES
        counts = np.bincount(exp_env, minlength=self.num_envs)
        removed = np.ones(expired.size, dtype=bool)
        run = counts[exp_env]
        pairs = np.flatnonzero(run == 2)  # the common shared case: no sort needed
        if pairs.size:
            first, second = pairs[0::2], pairs[1::2]
            first_older = self._creation_key(expired[first]) < self._creation_key(expired[second])
            removed[first], removed[second] = first_older, ~first_older
        longer = np.flatnonzero(run >= 3)
        if longer.size:  # rank each item in its run by creation order; even ranks are removed
            env = exp_env[longer]
            order = np.argsort(env * 4096 + self._creation_key(expired[longer]))
            rank = np.empty(longer.size, dtype=np.int64)
            rank[order] = np.arange(longer.size)  # each run stays in its place in the order
            place = longer - (np.cumsum(counts) - counts)[env]  # position in its own run
            removed[longer] = (rank - np.arange(longer.size) + place) % 2 == 0
        young = self.age.reshape(-1)[robot_flat] < ITEM_LIFETIME
        at_risk = np.flatnonzero(young & (counts[robot_env] % 2 == 1))
        keep = ~young  # an expired robot item is part of the run above
        if at_risk.size:
            env = robot_env[at_risk]
            ages = self.age[env]
            live = (ages >= 0) & (ages < ITEM_LIFETIME)
            keys = (127 - ages.astype(np.int32)) * 32 + self.drawn_by[env]
            first_live = np.where(live, keys, np.iinfo(np.int32).max).argmin(axis=1)
            keep[at_risk] = first_live == robot_flat[at_risk] - env * N_SHELVES
        return expired[removed], robot_flat[~keep]

    def _spawn(self, draws: np.ndarray, rows: np.ndarray | None) -> None:
        """Both spawn passes, for all rows or the given ones. Hits come in draw order, pass 1
        first; a pass-2 corner hit is void when the corner's pass-1 draw already spawned there
        (occupancy is re-read after pass 1)."""
        hits = draws < SPAWN_THRESHOLD
        if rows is not None:
            hits = hits[rows]
        env, draw = np.divmod(np.flatnonzero(hits), N_DRAWS)
        if rows is not None:
            env = rows[env]
        twin = _PASS_1_TWIN[draw]
        corner = np.flatnonzero(twin >= 0)
        void = np.zeros(draw.size, dtype=bool)
        void[corner] = draws.reshape(-1)[env[corner] * N_DRAWS + twin[corner]] < SPAWN_THRESHOLD
        flat = env * N_SHELVES + _DRAW_SHELF[draw]
        new = (self.age.reshape(-1)[flat] < 0) & ~void
        flat = flat[new]
        self.age.reshape(-1)[flat] = 0
        self.drawn_by.reshape(-1)[flat] = draw[new]

    def _observe(self, fresh: np.ndarray) -> np.ndarray:
        obs = np.zeros((self.num_envs, OBS_SIZE), dtype=np.float32)
        obs.reshape(-1)[self._row_starts + self.pos] = 1.0
        np.greater_equal(self.age, 0, out=obs[:, GRID * GRID :])
        if self.frame_stack == 1:
            return obs
        return push_frame(self._frames, obs, fresh)

    def _info(self) -> dict[str, Any]:
        if not self.info_ages:
            return {}
        return {"ages": self.age.copy(), "_ages": np.ones(self.num_envs, dtype=bool)}


class WarehouseEnv(SingleEnv):
    """One Warehouse for ``gymnasium.make``: the vector code with N = 1, without autoreset.

    Example:
        >>> import gymnasium as gym, rllib_iam
        >>> env = gym.make("rllib_iam/Warehouse-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        (73,)
    """

    VECTOR = WarehouseVectorEnv
