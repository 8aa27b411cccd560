"""The paper's Warehouse task as a native numpy vector environment.

One robot on a 7x7 grid collects items that appear on the 24 perimeter shelves and vanish after
8 steps. Item ages are the hidden state: the observation shows only presence bits, so an agent
must remember how long an item has been visible. The rules follow `docs/spec/warehouse.md`
(the authors' code at its final commit), including its quirks unless ``quirks=False``.

``WarehouseVectorEnv`` steps N warehouses with array operations only; ``WarehouseEnv`` is the
single-environment view of the same code for ``gymnasium.make``.

Autoreset: ``NEXT_STEP`` (gymnasium's default). RLlib 2.60's ``SingleAgentEnvRunner`` expects
it: after a sub-environment reports the end of an episode, the next ``step`` call resets that
sub-environment (its action is ignored, its reward is 0) and returns the first observation of
the new episode, which the runner records with ``add_env_reset``.

State: the robot cells, the step counters, and the items as bit masks, one uint32 per warehouse
and age, bit d set for the item that spawn draw d created. Aging is a ring index; spawning,
collecting and the quirk's creation-order removal are bitwise operations on N-long arrays
(of one age, bit order is creation order, so "every other item of the run" is a prefix
parity). `age` gives the familiar (N, 24) view.

Randomness: one generator per vector env, seeded by ``reset(seed=...)``. Every step draws a
``(N, 28)`` block of uniforms (row i belongs to sub-environment i, whether it steps or resets),
so runs repeat exactly for the same seed and N, and no two sub-environments share a draw.

Rendering: ``render_mode="rgb_array"`` draws the grid from the state (`draw`), item ages
included, though the agent never sees them; the vector env's ``render()`` gives one frame per
warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space
from PIL import Image, ImageDraw

from rllib_iam.envs import common
from rllib_iam.envs.common import (
    SingleEnv,
    check_actions,
    check_num_envs,
    check_options,
    check_render_mode,
    no_render_mode,
    push_frame,
)

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
SPAWN_THRESHOLD = int(np.ceil(SPAWN_PROBABILITY * 2**32))

# Items live as bit masks, one uint32 per warehouse and age: bit d is the item created by draw d
# (its "slot"), so for items of one age, bit order is creation order. A corner shelf has two
# slots (its pass-1 and its pass-2 draw); the other shelves one.
_SLOTS_OF_CELL = np.zeros(GRID * GRID, dtype=np.uint32)
for _draw, _shelf in enumerate(_DRAW_SHELF):
    _r, _c = SHELF_CELLS[_shelf]
    _SLOTS_OF_CELL[_r * GRID + _c] |= np.uint32(1 << _draw)
_CORNER_PASS_1 = np.uint32(sum(1 << d for d, c in enumerate(SPAWN_PASS_1_CELLS)
                               if c in SPAWN_PASS_2_CELLS))
# The two slots of each corner, (pass-1 draw, pass-2 draw): (0, 14), (6, 21), (7, 20), (13, 27).
_TWINS = [(SPAWN_PASS_1_CELLS.index(c), N_DRAWS // 2 + i)
          for i, c in enumerate(SPAWN_PASS_2_CELLS) if c in SPAWN_PASS_1_CELLS]
_TWIN_SHIFTS = [(np.uint32(sum(1 << a for a, b in _TWINS if b - a == k)), np.uint32(k))
                for k in sorted({b - a for a, b in _TWINS})]
AGES = 16
"""Ages the item masks can hold. Items expire at 8; the quirk lets some live longer, but along a
run of expired items only every other one survives, so 24 shelves give at most age 12."""
# By clock % AGES: the rows of the expired ages (oldest first) and of ages 7..1 (oldest first).
_EXPIRED_ROWS = np.array([[(k - a) % AGES for a in range(AGES - 1, ITEM_LIFETIME - 1, -1)]
                          for k in range(AGES)])
_YOUNG_ROWS = np.array([[(k - a) % AGES for a in range(ITEM_LIFETIME - 1, 0, -1)]
                        for k in range(AGES)])


def _twin(slots: np.ndarray) -> np.ndarray:
    """Each corner slot bit moved to the corner's other slot (pass 1 <-> pass 2)."""
    out = None
    for low, shift in _TWIN_SHIFTS:
        moved = ((slots & low) << shift) | ((slots >> shift) & low)
        out = moved if out is None else out | moved
    return out


# Shelf masks (bit s: shelf s in observation order holds an item) from slot masks. Pass 1's
# 14 draws run over shelves 0..13 in order, so its slots are already shelf bits; pass 2's 14
# slots (corners onto their pass-1 shelves, columns 0 and 6 interleaved into 14..23) go through
# a table indexed by all 14 at once.
_PASS_1 = N_DRAWS // 2
assert (_DRAW_SHELF[:_PASS_1] == np.arange(_PASS_1)).all()
_PASS_1_SLOTS = np.uint32((1 << _PASS_1) - 1)
_PASS_2_SHELVES = np.zeros(1 << _PASS_1, dtype=np.uint32)
for _k, _shelf in enumerate(_DRAW_SHELF[_PASS_1:]):
    _PASS_2_SHELVES[(np.arange(1 << _PASS_1) >> _k) & 1 == 1] |= np.uint32(1 << _shelf)


def _shelf_mask(slots: np.ndarray) -> np.ndarray:
    """Slot masks (N,) -> shelf masks (N,)."""
    return (slots & _PASS_1_SLOTS) | _PASS_2_SHELVES[slots >> np.uint32(_PASS_1)]


def _item_bits(slots: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Slot masks (N,) -> presence bits per shelf in observation order, written into `out`
    (N, 24)."""
    little = np.ascontiguousarray(_shelf_mask(slots), dtype="<u4")
    bits = np.unpackbits(little.view(np.uint8), bitorder="little").reshape(-1, 32)
    out[...] = bits[:, :N_SHELVES]
    return out


def _odd_prefix(slots: np.ndarray) -> np.ndarray:
    """Bit i set where slots has an odd number of set bits at positions 0..i."""
    x = slots ^ (slots << 1)
    x ^= x << 2
    x ^= x << 4
    x ^= x << 8
    x ^= x << 16
    return x


# Action -> (row delta, col delta): 0 up, 1 down, 2 left, 3 right. A move off the grid stays.
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int64)
_CELLS = np.arange(GRID * GRID)
NEXT_CELL = (
    np.clip(_CELLS[:, None] // GRID + MOVES[None, :, 0], 0, GRID - 1) * GRID
    + np.clip(_CELLS[:, None] % GRID + MOVES[None, :, 1], 0, GRID - 1)
)
"""``NEXT_CELL[cell, action]``: the robot's cell after the move."""
_NEXT_FLAT = NEXT_CELL.reshape(-1)

D_SETS: dict[str, list[int]] = {
    "reference": [0, *range(GRID * GRID, OBS_SIZE)],
    "items": list(range(GRID * GRID, OBS_SIZE)),
}
"""Named IAM d-sets. ``reference`` is what produced the paper's curves (index 0, the robot at
the top-left corner, is almost surely a slip for the centre, but it is what ran); ``items`` is
the 24 item bits only."""

OPTIONS = ("quirks", "time_limit_as_terminal", "frame_stack", "info_ages", "observe_ages")
RENDER_MODES = ("rgb_array",)
"""``human`` comes from ``gymnasium.make``'s `HumanRendering` over these (it needs pygame)."""
RENDER_FPS = 4
CELL_PX = 40
"""Pixels per grid cell in a rendered frame (7 x 40 = 280 square)."""


def resolve_d_set(d_set: str | Sequence[int], obs_size: int = OBS_SIZE) -> list[int]:
    """Turn a d-set name of `D_SETS` or an index list into a checked list of observation
    indices."""
    return common.resolve_d_set(d_set, obs_size, named=D_SETS)


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
        observe_ages: the fully observable twin: each observation also holds every shelf's item
            age, ``min(1, (age + 1) / 9)`` (0 where the shelf is empty; 1 from age 8, when an
            item expires), after the 73 usual entries: 97 per frame. What perfect information
            is worth to a learner is the twin's return minus the POMDP's.

    Example:
        >>> import gymnasium as gym, rllib_iam
        >>> envs = gym.make_vec("rllib_iam/Warehouse-v0", num_envs=8,
        ...                     vectorization_mode="vector_entry_point")
        >>> obs, info = envs.reset(seed=0)
        >>> obs.shape
        (8, 73)
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP,
                "render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **options: Any) -> None:
        check_options("Warehouse", options, OPTIONS)
        self.num_envs = check_num_envs(num_envs)
        self.render_mode = check_render_mode(render_mode, RENDER_MODES)
        self.quirks = bool(options.get("quirks", True))
        self.time_limit_as_terminal = bool(options.get("time_limit_as_terminal", False))
        self.frame_stack = int(options.get("frame_stack", 1))
        self.info_ages = bool(options.get("info_ages", False))
        self.observe_ages = bool(options.get("observe_ages", False))
        self.obs_size = OBS_SIZE + (N_SHELVES if self.observe_ages else 0)

        self.single_observation_space = gym.spaces.Box(
            0.0, 1.0, (self.obs_size * self.frame_stack,), np.float32
        )
        self.single_action_space = gym.spaces.Discrete(N_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        n = self.num_envs
        self._row_starts = np.arange(n) * self.obs_size
        self.pos = np.full(n, CENTRE, dtype=np.int64)
        # items[(clock - a) % AGES]: slot mask of each warehouse's items of age a.
        self.items = np.zeros((AGES, n), dtype=np.uint32)
        self.clock = 0
        self.t = np.zeros(n, dtype=np.int64)
        self._frames = np.zeros((n, self.frame_stack, self.obs_size), dtype=np.float32)
        self._done = np.zeros(n, dtype=bool)
        self._hit = np.zeros((n, 32), dtype=bool)

    # -- public gymnasium API ------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if isinstance(seed, (list, tuple)):
            seed = seed[0]
        super().reset(seed=seed)
        self.items[:] = 0
        self.pos[:] = CENTRE
        self.t[:] = 0
        self._done[:] = False
        present = self._spawn(self._draw(), np.zeros(self.num_envs, dtype=np.uint32))
        return self._observe(present, np.ones(self.num_envs, dtype=bool)), self._info()

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = check_actions(actions, self.num_envs, N_ACTIONS, ACTION_MEANING)
        return self._step(actions, self._draw())

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One RGB frame (280 x 280 x 3, uint8) per warehouse, drawn by `draw`."""
        if self.render_mode is None:
            return no_render_mode(self)
        ages = self.age
        return tuple(draw(int(self.pos[i]), ages[i]) for i in range(self.num_envs))

    @property
    def age(self) -> np.ndarray:
        """(N, 24) int8: each shelf's item age, -1 where none (the hidden state; a copy)."""
        ages = np.full((self.num_envs, N_SHELVES), -1, dtype=np.int8)
        for age in range(AGES):
            slots = self.items[(self.clock - age) % AGES]
            if slots.any():
                ages[_item_bits(slots, np.zeros(ages.shape, dtype=bool))] = age
        return ages

    def place_item(self, env: int, shelf: int, age: int, pass_2: bool = False) -> None:
        """Put an item of `age` on `shelf` of warehouse `env` (hand-built states, e.g. in tests).
        Items of one age are ordered by the draw that created them; ``pass_2`` says a corner's
        item came from its second (pass-2) draw."""
        if not 0 <= shelf < N_SHELVES:
            raise ValueError(f"shelf must be in [0, {N_SHELVES}), got {shelf}")
        slots = [d for d in range(N_DRAWS) if _DRAW_SHELF[d] == shelf]
        if not 0 <= age < AGES:
            raise ValueError(f"age must be in [0, {AGES}), got {age}")
        if pass_2 and len(slots) < 2:
            raise ValueError(f"pass_2 needs a corner shelf (0, 6, 7, 13), got {shelf}")
        self.items[:, env] &= ~np.uint32(sum(1 << d for d in slots))  # whatever was there
        self.items[(self.clock - age) % AGES, env] |= np.uint32(1 << slots[int(pass_2)])

    # -- the rules -----------------------------------------------------------------------------
    def _step(self, actions: np.ndarray, draws: np.ndarray):
        resetting = self._done
        reward, present = self._advance(actions)
        self.t += 1
        if resetting.any():  # NEXT_STEP autoreset: these rows restart from the same draws
            self.items[:, resetting] = 0
            self.pos[resetting] = CENTRE
            self.t[resetting] = 0
            reward[resetting] = 0.0
            present[resetting] = 0
        present = self._spawn(draws, present)
        ended = self.t >= EPISODE_LENGTH
        self._done = ended
        obs = self._observe(present, resetting)
        if self.time_limit_as_terminal:
            return obs, reward, ended.copy(), np.zeros_like(ended), self._info()
        return obs, reward, np.zeros_like(ended), ended.copy(), self._info()

    def _draw(self) -> np.ndarray:
        """One ``(N, 28)`` block of 32-bit uniforms k; a candidate spawns where k / 2**32 < 0.05."""
        raw = self.np_random.bit_generator.random_raw(self.num_envs * N_DRAWS // 2)
        return raw.view(np.uint32).reshape(self.num_envs, N_DRAWS)

    def _advance(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps 1-4 of the spec for every warehouse (rows about to reset are redone after);
        returns the rewards and the slot masks of the items left."""
        self.pos = _NEXT_FLAT[self.pos * N_ACTIONS + actions]
        self.clock += 1  # every item ages by one
        items = self.items
        items[self.clock % AGES] = 0  # the new age-0 row
        present = np.bitwise_or.reduce(items, axis=0)

        # The item under the robot, if any: reward before removal.
        robot = present & _SLOTS_OF_CELL[self.pos]
        reward = (robot != 0).astype(np.float64)

        if self.quirks:
            collected = self._skip_after_removal(robot)
        else:
            items[_EXPIRED_ROWS[self.clock % AGES]] = 0
            collected = robot
        items &= ~collected
        return reward, np.bitwise_or.reduce(items, axis=0)

    def _skip_after_removal(self, robot: np.ndarray) -> np.ndarray:
        """Quirk 1: the reference removes from the list it iterates over (creation order), so
        the item after a removed one is not examined. The candidates are the expired items,
        which are the oldest and so come first, plus the item under the robot. In the run of
        expired items every other one is removed (the 1st, 3rd, ... in creation order: oldest
        first, then by draw, which is bit order); the robot's item, if it is not expired, is
        skipped only when it directly follows an odd-length run of expired items. Removes the
        expired items from `self.items`; returns the robot items to remove."""
        items = self.items
        phase = self.clock % AGES
        odd = np.zeros(self.num_envs, dtype=np.uint32)  # all ones after an odd run so far
        young = robot  # the robot's item unless it is expired
        expired = _EXPIRED_ROWS[phase]
        for row in expired[items[expired].any(axis=1)]:
            slots = items[row]
            young = young & ~slots
            parity = _odd_prefix(slots)
            items[row] = slots & ~(parity ^ odd)  # keeps ranks 1, 3, ... of the whole run
            odd ^= np.uint32(0) - (parity >> np.uint32(31))
        at_risk = np.flatnonzero(young & odd)
        if at_risk.size:  # skipped if it is the first live item: the oldest one's first bit
            live = items[_YOUNG_ROWS[phase][:, None], at_risk]  # (7, k): ages 7..1
            first = live[np.argmax(live != 0, axis=0), np.arange(at_risk.size)]
            skipped = (first & (np.uint32(0) - first)) == young[at_risk]
            young[at_risk[skipped]] = 0  # stays, collectible again
        return young

    def _spawn(self, draws: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Both spawn passes into the new age-0 row; returns the slot masks after it. A pass-2
        corner hit is void when the corner's pass-1 draw already spawned there (occupancy is
        re-read after pass 1); a corner held through either slot blocks both."""
        hit = self._hit  # (N, 32) with 4 columns always False: one flat packbits
        np.less(draws, SPAWN_THRESHOLD, out=hit[:, :N_DRAWS])
        hits = np.packbits(hit.reshape(-1), bitorder="little").view("<u4")
        new = hits & ~(present | _twin(present | (hits & _CORNER_PASS_1)))
        self.items[self.clock % AGES] |= new
        return present | new

    def _observe(self, present: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        obs = np.zeros((self.num_envs, self.obs_size), dtype=np.float32)
        obs.reshape(-1)[self._row_starts + self.pos] = 1.0
        _item_bits(present, obs[:, GRID * GRID : OBS_SIZE])
        if self.observe_ages:  # the twin: the hidden ages, scaled
            ages = self.age
            obs[:, OBS_SIZE:] = np.where(
                ages >= 0, np.minimum(1.0, (ages + 1.0) / (ITEM_LIFETIME + 1)), 0.0)
        if self.frame_stack == 1:
            return obs
        return push_frame(self._frames, obs, fresh)

    def _info(self) -> dict[str, Any]:
        if not self.info_ages:
            return {}
        return {"ages": self.age, "_ages": np.ones(self.num_envs, dtype=bool)}


def draw(robot: int, ages: np.ndarray) -> np.ndarray:
    """An RGB frame (280 x 280 x 3, uint8) of one warehouse: floor light grey, shelves dark
    grey, items orange with their age (the hidden state), the robot a blue disc on cell
    `robot` (row-major index). `ages` are the 24 shelves' item ages, -1 where none."""
    image = Image.new("RGB", (GRID * CELL_PX, GRID * CELL_PX), "black")
    pen = ImageDraw.Draw(image)
    shelves = {tuple(c) for c in SHELF_CELLS.tolist()}
    for r in range(GRID):
        for c in range(GRID):
            box = (c * CELL_PX + 1, r * CELL_PX + 1, (c + 1) * CELL_PX - 2, (r + 1) * CELL_PX - 2)
            pen.rectangle(box, fill=(90, 90, 90) if (r, c) in shelves else (200, 200, 200))
    for (r, c), age in zip(SHELF_CELLS.tolist(), np.asarray(ages).tolist(), strict=True):
        if age >= 0:
            pen.rectangle((c * CELL_PX + 8, r * CELL_PX + 8,
                           (c + 1) * CELL_PX - 9, (r + 1) * CELL_PX - 9), fill=(255, 140, 0))
            pen.text(((c + 0.5) * CELL_PX, (r + 0.5) * CELL_PX), str(age), fill="black",
                     anchor="mm")
    r, c = divmod(robot, GRID)
    pen.ellipse((c * CELL_PX + 10, r * CELL_PX + 10, (c + 1) * CELL_PX - 11,
                 (r + 1) * CELL_PX - 11), fill=(30, 80, 220))
    return np.asarray(image)


class WarehouseEnv(SingleEnv):
    """One Warehouse for ``gymnasium.make``: the vector code with N = 1, without autoreset.

    Example:
        >>> import gymnasium as gym, rllib_iam
        >>> env = gym.make("rllib_iam/Warehouse-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape
        (73,)
        >>> env = gym.make("rllib_iam/Warehouse-v0", render_mode="rgb_array")
        >>> _ = env.reset(seed=0)
        >>> env.render().shape
        (280, 280, 3)
    """

    VECTOR = WarehouseVectorEnv
    metadata = {"render_modes": list(RENDER_MODES), "render_fps": RENDER_FPS}
