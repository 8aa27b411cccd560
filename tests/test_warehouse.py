"""The Warehouse, rule by rule (docs/spec/warehouse.md), and against its literal scalar twin."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env

import rllib_iam
from rllib_iam.envs.warehouse import (
    CENTRE,
    D_SETS,
    GRID,
    N_DRAWS,
    OBS_SIZE,
    SHELF_CELLS,
    WarehouseVectorEnv,
    resolve_d_set,
)
from rllib_iam.envs.warehouse_scalar import ScalarWarehouse

NO_SPAWN = np.full((1, N_DRAWS), 2**32 - 1, dtype=np.uint32)
UP, DOWN, LEFT, RIGHT = range(4)


def shelf(row: int, col: int) -> int:
    return [tuple(c) for c in SHELF_CELLS.tolist()].index((row, col))


def warehouse(robot: tuple[int, int], items: list[tuple[int, int, int]], quirks: bool = True):
    """One warehouse in a hand-built state; ``items`` are (row, col, age). Creation order is
    older first, then draw order (for these tests' pass-1 cells: row 0, then row 6, by column)."""
    env = WarehouseVectorEnv(1, quirks=quirks, info_ages=True)
    env.reset(seed=0)
    env.pos[0] = robot[0] * GRID + robot[1]
    env.items[:] = 0
    for row, col, age in items:
        env.place_item(0, shelf(row, col), age)
    assert (env.age[0] >= 0).sum() == len(items)
    return env


def step(env, action: int, draws=NO_SPAWN):
    return env._step(np.array([action]), draws)


def item_bits(obs):
    return obs[0, GRID * GRID :]


# -- moves ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start, action, end",
    [
        ((3, 3), UP, (2, 3)),
        ((3, 3), DOWN, (4, 3)),
        ((3, 3), LEFT, (3, 2)),
        ((3, 3), RIGHT, (3, 4)),
        ((0, 3), UP, (0, 3)),
        ((6, 3), DOWN, (6, 3)),
        ((3, 0), LEFT, (3, 0)),
        ((3, 6), RIGHT, (3, 6)),
    ],
)
def test_move_and_wall(start, action, end):
    env = warehouse(start, [])
    obs, reward, *_ = step(env, action)
    assert obs[0, : GRID * GRID].argmax() == end[0] * GRID + end[1]
    assert obs[0, : GRID * GRID].sum() == 1
    assert reward[0] == 0


# -- reward, removal, expiry -----------------------------------------------------------------
def test_reward_then_removal():
    env = warehouse((1, 0), [(0, 0, 3)])
    obs, reward, *_ = step(env, UP)
    assert reward[0] == 1
    assert item_bits(obs).sum() == 0


def test_age_8_item_still_collectible():
    env = warehouse((1, 0), [(0, 0, 7)])  # ages to 8 in this step, counted before removal
    _, reward, *_ = step(env, UP)
    assert reward[0] == 1


def test_expiry_after_8_steps():
    env = warehouse((3, 3), [(0, 2, 0)])
    for _ in range(7):
        obs, *_ = step(env, UP if env.pos[0] == CENTRE else DOWN)
        assert item_bits(obs)[shelf(0, 2)] == 1
    obs, *_ = step(env, DOWN)
    assert item_bits(obs)[shelf(0, 2)] == 0


def test_item_life_visible_8_observations_collectible_8_steps():
    for collect_at in range(1, 10):
        env = warehouse((0, 2), [(0, 3, 0)])  # spawned "at the end of step t"
        got = 0.0
        for k in range(1, collect_at + 1):  # wait against the top wall, then step onto it
            obs, r, *_ = step(env, RIGHT if k == collect_at else UP)
            got += r[0]
            if k < collect_at:
                assert item_bits(obs)[shelf(0, 3)] == (k <= 7)
        assert got == (1.0 if collect_at <= 8 else 0.0), collect_at


# -- spawning ----------------------------------------------------------------------------------
def test_spawn_rates_two_passes_and_corner_double_draw():
    env = WarehouseVectorEnv(200_000)
    env.reset(seed=123)  # one spawn step on empty shelves
    rate = (env.age >= 0).mean(axis=0)
    corners = [shelf(0, 0), shelf(0, 6), shelf(6, 0), shelf(6, 6)]
    for s in range(24):
        p = 1 - 0.95**2 if s in corners else 0.05
        assert abs(rate[s] - p) < 4.5 * np.sqrt(p * (1 - p) / env.num_envs), (s, rate[s], p)


def test_spawn_skips_occupied_cells_and_uses_28_draws():
    env = warehouse((3, 3), [(0, 1, 2)])
    draws = np.zeros((1, N_DRAWS), dtype=np.uint32)  # every draw hits
    obs, *_ = step(env, UP, draws)
    assert item_bits(obs).sum() == 24
    assert env.age[0, shelf(0, 1)] == 3  # the old item stays, not replaced
    assert (env.age[0][np.arange(24) != shelf(0, 1)] == 0).all()


def test_corner_second_pass_draw_counts_when_first_misses():
    draws = NO_SPAWN.copy()
    draws[0, 14] = 0  # pass 2, column 0, row 0: the (0, 0) corner's second chance
    env = warehouse((3, 3), [])
    obs, *_ = step(env, UP, draws)
    assert item_bits(obs)[shelf(0, 0)] == 1 and item_bits(obs).sum() == 1


def test_spawn_under_the_robot_collected_later_only_if_still_there():
    draws = NO_SPAWN.copy()
    draws[0, 3] = 0  # pass 1: (0, 3)
    env = warehouse((1, 3), [])
    obs, reward, *_ = step(env, UP, draws)  # robot arrives, then the item spawns under it
    assert reward[0] == 0 and item_bits(obs)[shelf(0, 3)] == 1
    _, reward, *_ = step(env, UP)  # pushes against the wall: still there, collects
    assert reward[0] == 1


def test_reset_spawns_and_centres():
    env = WarehouseVectorEnv(5000)
    obs, _ = env.reset(seed=1)
    assert (obs[:, CENTRE] == 1).all() and obs[:, : GRID * GRID].sum() == 5000
    assert 0.3 < obs[:, GRID * GRID :].sum(axis=1).mean() < 3  # ~1.39 expected


# -- the quirk ---------------------------------------------------------------------------------
def test_quirk_skips_item_after_expired_one():
    # both expire this step; the second in creation order is skipped and lives to age 9
    items = [(0, 1, 7), (0, 2, 7)]
    env = warehouse((3, 3), items)
    obs, *_ = step(env, UP)
    assert item_bits(obs)[shelf(0, 1)] == 0
    assert item_bits(obs)[shelf(0, 2)] == 1 and env.age[0, shelf(0, 2)] == 8
    obs, *_ = step(env, DOWN)
    assert item_bits(obs)[shelf(0, 2)] == 0

    env = warehouse((3, 3), items, quirks=False)
    obs, *_ = step(env, UP)
    assert item_bits(obs).sum() == 0


def test_quirk_lets_the_robot_collect_a_skipped_item_again():
    # an expiring item created just before the one under the robot makes it skipped
    env = warehouse((1, 1), [(6, 6, 7), (0, 1, 2)])
    _, reward, *_ = step(env, UP)
    assert reward[0] == 1 and env.age[0, shelf(0, 1)] == 3  # collected but not removed
    _, reward, *_ = step(env, UP)  # against the wall: collected again
    assert reward[0] == 1 and env.age[0, shelf(0, 1)] == -1

    env = warehouse((1, 1), [(6, 6, 7), (0, 1, 2)], quirks=False)
    _, reward, *_ = step(env, UP)
    assert reward[0] == 1 and env.age[0, shelf(0, 1)] == -1
    _, reward, *_ = step(env, UP)
    assert reward[0] == 0


def test_quirk_alternates_along_a_run_of_candidates():
    # creation order: older first, so (6, 6) of age 8 leads the run of the age-7 items
    env = warehouse((3, 3), [(0, 1, 7), (0, 2, 7), (0, 4, 1), (0, 5, 7), (6, 6, 8)])
    step(env, UP)
    alive = {c: env.age[0, shelf(*c)] >= 0 for c in [(6, 6), (0, 1), (0, 2), (0, 4), (0, 5)]}
    assert alive == {(6, 6): False, (0, 1): True, (0, 2): False, (0, 4): True, (0, 5): True}


def test_quirk_orders_a_corner_item_by_the_pass_that_created_it():
    # of two items of one age, the one created by the earlier draw is examined (removed) first;
    # a corner's pass-2 draw comes after every pass-1 draw
    for pass_2, survivor in [(False, (0, 1)), (True, (0, 0))]:
        env = warehouse((3, 3), [(0, 1, 7)])
        env.place_item(0, shelf(0, 0), 7, pass_2=pass_2)
        step(env, UP)
        alive = [c for c in [(0, 0), (0, 1)] if env.age[0, shelf(*c)] >= 0]
        assert alive == [survivor], pass_2


# -- against the literal scalar implementation -------------------------------------------------
@pytest.mark.parametrize("quirks", [True, False])
def test_vector_env_matches_scalar_spec_step_for_step(quirks):
    n, seed = 24, 7
    vec = WarehouseVectorEnv(n, quirks=quirks, info_ages=True)
    obs, _ = vec.reset(seed=seed)
    stream = seeding.np_random(seed)[0]  # the same stream the vector env drew from
    scalars = [ScalarWarehouse(stream, quirks) for _ in range(n)]
    assert np.array_equal(obs, np.stack([s.reset() for s in scalars]))
    act_rng = np.random.default_rng(0)
    skipped_seen = 0
    for _ in range(3000):
        # random moves, with a bias to push against walls (where the quirk re-collects)
        actions = act_rng.integers(0, 4, n)
        obs, reward, terminated, truncated, info = vec.step(actions)
        expected = []
        for s, a in zip(scalars, actions, strict=True):
            expected.append((s.reset(), 0.0, False) if s.t >= 100 else s.step(int(a)))
        assert np.array_equal(obs, np.stack([e[0] for e in expected]))
        assert np.array_equal(reward, [e[1] for e in expected])
        assert np.array_equal(truncated, [e[2] for e in expected])
        assert not terminated.any()
        ages = np.stack([s.ages() for s in scalars])
        assert np.array_equal(info["ages"], ages)
        skipped_seen += int((ages > 8).sum())
    assert (skipped_seen > 0) == quirks


def test_same_seed_same_run_and_sub_envs_differ():
    def run(seed):
        env = WarehouseVectorEnv(8)
        out = [env.reset(seed=seed)[0]]
        rng = np.random.default_rng(0)
        for _ in range(150):
            out.append(env.step(rng.integers(0, 4, 8))[0])
        return np.stack(out)

    a, b = run(3), run(3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, run(4))
    items = a[:, :, GRID * GRID :]
    assert all(not np.array_equal(items[:, 0], items[:, i]) for i in range(1, 8))


# -- episode end, autoreset, time limit flag ---------------------------------------------------
@pytest.mark.parametrize("as_terminal", [False, True])
def test_episode_end_and_next_step_autoreset(as_terminal):
    env = gym.make_vec(
        rllib_iam.WAREHOUSE_ID,
        num_envs=3,
        vectorization_mode="vector_entry_point",
        time_limit_as_terminal=as_terminal,
    )
    env.reset(seed=0)
    for t in range(1, 101):
        obs, reward, terminated, truncated, _ = env.step(np.zeros(3, dtype=np.int64))
        ended = terminated if as_terminal else truncated
        other = truncated if as_terminal else terminated
        assert ended.all() == (t == 100) and not other.any()
    obs, reward, terminated, truncated, _ = env.step(np.ones(3, dtype=np.int64))
    assert (reward == 0).all() and not (terminated | truncated).any()
    assert (obs[:, CENTRE] == 1).all()  # the reset observation, action ignored


def test_single_env_passes_gymnasium_checker():
    env = gym.make(rllib_iam.WAREHOUSE_ID)
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (OBS_SIZE,) and obs.dtype == np.float32
    for _ in range(99):
        assert env.step(0)[3] is False
    assert env.step(0)[3] is True


def test_observation_never_shows_ages():
    env = WarehouseVectorEnv(64, info_ages=True)
    obs, info = env.reset(seed=0)
    for _ in range(20):
        obs, *_, info = env.step(np.zeros(64, dtype=np.int64))
        assert set(np.unique(obs)) <= {0.0, 1.0}
        assert np.array_equal(obs[:, GRID * GRID :], info["ages"] >= 0)


# -- frame stacking ------------------------------------------------------------------------------
def test_frame_stack_order_and_zero_padding():
    k = 8
    env = WarehouseVectorEnv(2, frame_stack=k)
    plain = WarehouseVectorEnv(2)
    stacked, _ = env.reset(seed=5)
    frames = [plain.reset(seed=5)[0]]
    assert stacked.shape == (2, OBS_SIZE * k)
    assert np.array_equal(stacked[:, :OBS_SIZE], frames[0])
    assert not stacked[:, OBS_SIZE:].any()
    rng = np.random.default_rng(0)
    for t in range(1, 120):
        a = rng.integers(0, 4, 2)
        stacked = env.step(a)[0].reshape(2, k, OBS_SIZE)
        frame = plain.step(a)[0]
        frames = [np.zeros_like(frame)] * k if t == 101 else frames  # new episode
        frames = [frame, *frames][:k]
        expected = np.stack([frames[i] if i < len(frames) else 0 * frame for i in range(k)], 1)
        assert np.array_equal(stacked, expected), t


# -- d-sets and bad input --------------------------------------------------------------------
def test_d_sets():
    assert D_SETS["reference"] == [0, *range(49, 73)]
    assert D_SETS["items"] == list(range(49, 73))
    assert resolve_d_set([1, 2]) == [1, 2]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: WarehouseVectorEnv(2, colour="red"), "unknown Warehouse option"),
        (lambda: WarehouseVectorEnv(0), "num_envs must be >= 1"),
        (lambda: WarehouseVectorEnv(2, frame_stack=0), "frame_stack"),
        (lambda: resolve_d_set("centre"), "valid names: reference, items"),
        (lambda: resolve_d_set([0, 73]), "bad [73]"),
        (lambda: gym.make(rllib_iam.WAREHOUSE_ID, colour=1), "valid: quirks"),
    ],
)
def test_bad_input_is_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=None) as err:
        make()
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("actions", [[0, 4], [-1, 0], [0.5, 1], [0]])
def test_bad_actions_are_refused(actions):
    env = WarehouseVectorEnv(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete"):
        env.step(np.array(actions))


def test_the_fully_observable_twin_adds_the_scaled_ages_and_nothing_else():
    """``observe_ages=True``: the same episode (same seed, same actions, same rewards and ends)
    with each shelf's hidden item age appended, scaled to (0, 1] where an item lies, 0 where
    none; frame stacking stacks the 97-entry frames."""
    import gymnasium as gym

    twin = gym.make_vec("rllib_iam/Warehouse-v0", num_envs=4, observe_ages=True,
                        info_ages=True, vectorization_mode="vector_entry_point")
    pomdp = gym.make_vec("rllib_iam/Warehouse-v0", num_envs=4,
                         vectorization_mode="vector_entry_point")
    assert twin.single_observation_space.shape == (97,)
    a, info = twin.reset(seed=3)
    b, _ = pomdp.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(150):  # an episode end and its autoreset included
        np.testing.assert_array_equal(a[:, :73], b)
        ages = info["ages"]
        expected = np.where(ages >= 0, np.minimum(1.0, (ages + 1.0) / 9), 0.0)
        np.testing.assert_allclose(a[:, 73:], expected, rtol=1e-6)
        assert ((a[:, 73:] > 0) == (b[:, 49:] == 1)).all()  # an age exactly where an item is
        actions = rng.integers(0, 4, size=4)
        a, ra, ta, ua, info = twin.step(actions)
        b, rb, tb, ub, _ = pomdp.step(actions)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta | ua, tb | ub)
    stacked = gym.make("rllib_iam/Warehouse-v0", observe_ages=True, frame_stack=8)
    assert stacked.observation_space.shape == (97 * 8,)
    assert stacked.reset(seed=0)[0].shape == (97 * 8,)
