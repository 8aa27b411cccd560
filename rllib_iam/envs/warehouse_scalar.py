"""A literal, one-warehouse implementation of the spec, written for reading, not for speed.

Items live in a Python list in creation order and are removed the way the reference code
did it (from the list being iterated, which skips the next item) unless ``quirks=False``.
The vector environment is tested against this class step for step; the speed benchmark times
it as the one-at-a-time baseline. Each step (and reset) it takes its 28 draws from ``rng`` as
one block of 32-bit integers k (uniform u = k / 2**32), the way the vector environment takes
its ``(N, 28)`` block, so both can be fed one stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rllib_iam.envs.warehouse import (
    EPISODE_LENGTH,
    GRID,
    ITEM_LIFETIME,
    N_DRAWS,
    OBS_SIZE,
    SHELF_CELLS,
    SPAWN_PASS_1_CELLS,
    SPAWN_PASS_2_CELLS,
    SPAWN_PROBABILITY,
)


@dataclass
class Item:
    row: int
    col: int
    age: int = 0


class ScalarWarehouse:
    """One Warehouse, rule by rule. ``reset()`` and ``step(action)`` return plain values."""

    def __init__(self, rng: np.random.Generator, quirks: bool = True) -> None:
        self.rng = rng
        self.quirks = quirks
        self.robot = (GRID // 2, GRID // 2)
        self.items: list[Item] = []
        self.t = 0

    def reset(self) -> np.ndarray:
        self.items = []
        self.robot = (GRID // 2, GRID // 2)
        self.t = 0
        self._spawn()
        return self.observation()

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        # 1. move; a move off the grid leaves the robot in place
        row, col = self.robot
        if action == 0:
            row -= 1
        elif action == 1:
            row += 1
        elif action == 2:
            col -= 1
        elif action == 3:
            col += 1
        if 0 <= row < GRID and 0 <= col < GRID:
            self.robot = (row, col)
        # 2. every item ages
        for item in self.items:
            item.age += 1
        # 3. reward before removal
        reward = float(sum((item.row, item.col) == self.robot for item in self.items))
        # 4. collected and expired items are removed
        if self.quirks:
            for item in self.items:  # removing while iterating skips the next item
                if (item.row, item.col) == self.robot or item.age >= ITEM_LIFETIME:
                    self.items.remove(item)
        else:
            self.items = [
                item
                for item in self.items
                if (item.row, item.col) != self.robot and item.age < ITEM_LIFETIME
            ]
        # 5. spawn, 6. observe and count
        self._spawn()
        self.t += 1
        return self.observation(), reward, self.t >= EPISODE_LENGTH

    def _spawn(self) -> None:
        draws = iter(self.rng.bit_generator.random_raw(N_DRAWS // 2).view(np.uint32).tolist())
        for cells in (SPAWN_PASS_1_CELLS, SPAWN_PASS_2_CELLS):
            for row, col in cells:
                u = next(draws) / 2**32
                free = all((item.row, item.col) != (row, col) for item in self.items)
                if u < SPAWN_PROBABILITY and free:
                    self.items.append(Item(row, col))

    def observation(self) -> np.ndarray:
        obs = np.zeros(OBS_SIZE, dtype=np.float32)
        obs[GRID * self.robot[0] + self.robot[1]] = 1.0
        occupied = {(item.row, item.col) for item in self.items}
        for i, (row, col) in enumerate(SHELF_CELLS.tolist()):
            obs[GRID * GRID + i] = float((row, col) in occupied)
        return obs

    def ages(self) -> np.ndarray:
        """True item ages in shelf (observation) order, -1 where there is no item."""
        ages = np.full(len(SHELF_CELLS), -1, dtype=np.int64)
        for i, (row, col) in enumerate(SHELF_CELLS.tolist()):
            for item in self.items:
                if (item.row, item.col) == (row, col):
                    ages[i] = item.age
        return ages
