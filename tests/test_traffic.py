"""The Traffic task on real SUMO, rule by rule (docs/spec/traffic.md)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rllib_iam
from rllib_iam.envs import sumo_loop
from rllib_iam.envs.traffic import D_SETS, TrafficVectorEnv, resolve_d_set
from rllib_iam.envs.traffic_sim import (
    EPISODE_LENGTH,
    GREENS,
    OBS_SIZE,
    Light,
    TrafficSim,
    cell,
    observe,
)

NORTH, WEST = 0, 1


@pytest.fixture
def sim():
    """This process's one in-process libsumo simulation, for the tests that look inside."""
    sim = TrafficSim("libsumo")
    yield sim
    sim.close()


def run(env: TrafficVectorEnv, actions: np.ndarray):
    """Step through `actions` (steps x N); returns obs, rewards and done flags, each stacked."""
    out = [env.step(a) for a in actions]
    return (np.stack([o[0] for o in out]), np.stack([o[1] for o in out]),
            np.stack([o[2] | o[3] for o in out]))


# -- the network ------------------------------------------------------------------------------
def test_network_lengths_and_link_order_match_the_reference(sim):
    sim.reset(0, fresh=True)
    lane = sim.sumo.lane
    lengths = {e: lane.getLength(f"{e}_0") for e in sumo_loop.CIRCUIT}
    assert lengths == pytest.approx({"L61": 29.6, "L64": 29.6, "L62": 33.6, "L63": 33.6,
                                     "L65": 56.0, "L68": 56.0, "L66": 60.0, "L67": 60.0})
    links = [link[0][:2] for link in sim.sumo.trafficlight.getControlledLinks(sumo_loop.TLS_ID)]
    assert links == [("L68_0", "L61_0"), ("L68_0", "L65_0"), ("L64_0", "L61_0"),
                     ("L64_0", "L65_0")]


@pytest.mark.parametrize("route, steps", [("A", 234), ("B", 286)])
def test_a_lone_car_under_green_finishes_its_route_when_the_spec_says(sim, route, steps):
    sim._load(sumo_loop.sumo_args(route, 0))
    n = 0
    while sim.sumo.simulation.getMinExpectedNumber() > 0 and n < 400:
        sim.sumo.trafficlight.setRedYellowGreenState(sumo_loop.TLS_ID, "GGGG")
        sim.sumo.simulationStep()
        n += 1
    assert n == steps


def test_the_episode_ends_when_no_car_is_left(sim):
    """Quirk 5: a lone route-A car, given green ahead of it, leaves at step 234 < 250."""
    sim.reset(0, fresh=True)
    sim._load(sumo_loop.sumo_args("A", 0))
    vehicle = sim.sumo.vehicle
    steps, no_cars = 0, False
    while not no_cars and steps < EPISODE_LENGTH:
        road = vehicle.getRoadID("car0") if "car0" in vehicle.getIDList() else ""
        _, reward, no_cars, time_up = sim.step(WEST if road in ("L63", "L64") else NORTH)
        steps += 1
    assert (steps, no_cars, time_up, reward) == (234, True, False, 0.0)


def test_route_draws_follow_python_random_and_cover_64_patterns():
    assert sumo_loop.ROUTES["A"][0] == "L67" and sumo_loop.ROUTES["A"][-1] == "L62"
    assert sumo_loop.ROUTES["B"][0] == "L63" and sumo_loop.ROUTES["B"][-1] == "L66"
    assert len(sumo_loop.ROUTES["A"]) == 36 and len(sumo_loop.ROUTES["B"]) == 44
    draws = {sumo_loop.draw_routes(s) for s in range(2000)}
    assert len(draws) == 64 and {len(d) for d in draws} == {6}
    assert sumo_loop.draw_routes(7) == sumo_loop.draw_routes(7)


# -- the observation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lane, position, index",
    [
        ("L68_0", 36.0, 0),  # front at y = 64: the northmost cell of the column
        ("L68_0", 56.0, 5),  # at the north stop line (y = 44)
        ("L61_0", 26.0, 14),  # y = 6.8: the last cell before leaving southwards (d-set)
        ("L64_0", 29.6, 21),  # at the west stop line (x = 32.8)
        ("L65_0", 20.0, 29),  # x = 64: the last cell before leaving eastwards (d-set)
    ],
)
def test_a_car_placed_on_a_lane_lights_up_its_cell(sim, lane, position, index):
    sim.reset(0, fresh=True)
    sim.step(NORTH)  # car0 departs at t = 0 on L67 or L63, both outside the box
    assert sim.observe()[0].sum() == 0
    sim.sumo.vehicle.moveTo("car0", lane, position)
    obs = sim.observe()[0]
    assert obs.shape == (OBS_SIZE,)
    assert np.flatnonzero(obs).tolist() == [index] and obs[index] == 1.0


def test_the_junction_centre_is_both_index_6_and_23():
    assert cell(40.0) == 12 and cell(38.0) == 12 and cell(42.0) == 12  # half to even
    assert np.flatnonzero(observe([(40.0, 40.0)])).tolist() == [6, 23]
    assert not observe([(38.4, 3.2), (3.2, 38.4), (8.0, 8.0)]).any()  # outside the box


def test_reward_counts_standing_cars(sim):
    """Red for the north approach all along: cars queue there and the reward falls."""
    sim.reset(3, fresh=True)
    rewards = [sim.step(WEST)[1] for _ in range(120)]
    assert max(rewards) == 0.0 and min(rewards) < -0.1
    assert all(r * 10 == pytest.approx(round(r * 10)) for r in rewards)  # -(cars)/10
    assert min(rewards) >= -0.6


# -- the light -------------------------------------------------------------------------------
def test_a_switch_gives_six_yellow_steps_then_the_new_green():
    light = Light()
    states = [light.step(a) for a in [NORTH, NORTH, WEST] + [NORTH] * 6 + [NORTH]]
    assert states[:2] == [GREENS[NORTH]] * 2
    assert states[2:8] == ["yyrr"] * 6  # the action is ignored during the yellow
    assert states[8] == GREENS[WEST]  # quirk 2: the green chosen when the yellow began
    assert states[9] == "rryy"  # ... and the agent, still asking north, switches back


def test_clean_light_goes_to_the_green_asked_for_after_the_yellow():
    light = Light()
    states = [light.step(a, quirks=False) for a in [NORTH, WEST] + [NORTH] * 6]
    assert states[1:7] == ["yyrr"] * 6 and states[7] == GREENS[NORTH]


# -- episodes, seeds, vector env ------------------------------------------------------------
@pytest.mark.slow
def test_random_policy_plays_full_episodes_with_the_spec_return():
    """8 random episodes of 250 steps (seeds 0-7, 4 at a time); the spec: a uniformly random
    policy scores about -41."""
    env = gym.make_vec(rllib_iam.TRAFFIC_ID, num_envs=4, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(0)
    returns = []
    for seed in (0, 4):
        obs, _ = env.reset(seed=seed)
        assert obs.shape == (4, OBS_SIZE) and not obs.any()
        _, rewards, done = run(env, rng.integers(0, 2, (EPISODE_LENGTH, 4)))
        assert done[-1].all() and not done[:-1].any()  # every episode ends at step 250
        assert (rewards <= 0).all()
        returns += rewards.sum(axis=0).tolist()
    env.close()
    returns = np.array(returns)
    assert (returns < 0).all()
    assert -46 < returns.mean() < -36, returns


@pytest.mark.slow
def test_same_seed_same_episodes_across_processes_and_autoreset():
    """Two vector envs side by side in one process (the first's sub-env 0 in this process, the
    rest in worker processes) give the same episodes; a NEXT_STEP autoreset gives zeros."""
    actions = np.random.default_rng(1).integers(0, 2, (EPISODE_LENGTH + 40, 2))
    envs, results = [TrafficVectorEnv(2), TrafficVectorEnv(2)], []
    for env in envs:
        env.reset(seed=5)
        results.append(run(env, actions))
    assert [type(s).__name__ for e in envs for s in e._sims] == ["_Local"] + ["_Remote"] * 3
    for env in envs:
        env.close()
    (obs_a, rew_a, done_a), (obs_b, rew_b, _) = results
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    assert done_a[EPISODE_LENGTH - 1].all()
    assert not obs_a[EPISODE_LENGTH].any() and (rew_a[EPISODE_LENGTH] == 0).all()
    assert obs_a[EPISODE_LENGTH + 10:].any()  # the next episode runs
    other = TrafficVectorEnv(2)
    other.reset(seed=6)
    _, rew_c, _ = run(other, actions[:100])
    other.close()
    assert not np.array_equal(rew_a[:100], rew_c)


@pytest.mark.slow
def test_neighbouring_workers_share_episodes_unless_clean():
    """Quirk 3: sub-env 0's second episode is sub-env 1's first (seed s + i + k)."""
    north = np.zeros((2 * EPISODE_LENGTH + 1, 2), dtype=np.int64)
    for quirks in (True, False):
        env = TrafficVectorEnv(2, quirks=quirks)
        env.reset(seed=11)
        _, rewards, _ = run(env, north)
        env.close()
        second_of_0 = rewards[EPISODE_LENGTH + 1 :, 0]
        first_of_1 = rewards[:EPISODE_LENGTH, 1]
        assert np.array_equal(second_of_0, first_of_1) == quirks


def test_frame_stack_and_time_limit_as_terminal():
    env = TrafficVectorEnv(1, frame_stack=32, time_limit_as_terminal=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1, 32 * OBS_SIZE)
    frames = [env.step(np.array([NORTH])) for _ in range(EPISODE_LENGTH)]
    env.close()
    last, _, terminated, truncated, _ = frames[-1]
    assert terminated[0] and not truncated[0]
    stacked = last.reshape(32, OBS_SIZE)
    np.testing.assert_array_equal(stacked[1], frames[-2][0].reshape(32, OBS_SIZE)[0])


def test_single_env_and_traci_backend_agree():
    actions = np.random.default_rng(2).integers(0, 2, 60)
    returns = []
    for backend in ("libsumo", "traci"):
        env = gym.make(rllib_iam.TRAFFIC_ID, backend=backend)
        env.reset(seed=4)
        returns.append([env.step(int(a))[1] for a in actions])
        env.close()
    assert returns[0] == returns[1] and min(returns[0]) < 0


def test_d_set_by_name():
    assert D_SETS["reference"] == [13, 14, 28, 29] == resolve_d_set("reference")
    with pytest.raises(ValueError, match="unknown Traffic d-set 'items'; valid names: reference"):
        resolve_d_set("items")
    with pytest.raises(ValueError, match="within \\[0, 30\\)"):
        resolve_d_set([3, 30])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"flicker": 0.5}, "unknown Traffic option(s) flicker; valid: quirks"),
        ({"frame_stack": 0}, "frame_stack must be an integer >= 1"),
        ({"backend": "sumo-gui"}, "unknown backend 'sumo-gui'; valid: libsumo, traci"),
    ],
)
def test_bad_options_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError) as err:
        TrafficVectorEnv(1, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_actions_and_step_before_reset_are_refused():
    env = TrafficVectorEnv(1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete\\(2\\)"):
        env.step(np.array([2]))
    env.close()


# -- the models' Traffic sizes ----------------------------------------------------------------
def test_every_model_takes_its_traffic_sizes_from_the_env_id():
    import torch
    from ray.rllib.core.columns import Columns

    from rllib_iam.models import MODELS, build_module, env_config_for

    traffic = rllib_iam.TRAFFIC_ID
    iam = build_module("iam", traffic)
    fnn = iam.trunk.fnn_branch
    assert [(m.in_features, m.out_features) for m in fnn if hasattr(m, "in_features")] == [
        (30, 248), (248, 64)]
    assert iam.trunk.d_map.indices.tolist() == [13, 14, 28, 29]
    assert iam.trunk.memory_branch.rnn.input_size == 4
    assert iam.trunk.memory_branch.rnn.hidden_size == 8
    assert build_module("lstm", traffic).trunk.rnn.hidden_size == 128
    assert build_module("iam_auto", traffic).trunk.d_map.out_features == 4
    assert env_config_for("fnn32") == {"frame_stack": 32}
    fnn32 = build_module("fnn32", traffic)
    assert fnn32.observation_space.shape == (960,)
    assert fnn32.trunk.fnn[0].in_features == 960 and fnn32.trunk.fnn[2].out_features == 64
    for name in ("iam", "iam_gru", "iam_static", "iam_auto", "lstm", "gru", "fnn", "fnn32"):
        module = build_module(name, traffic)
        obs = torch.rand(3, 5, module.observation_space.shape[0])
        out = module.forward_train({Columns.OBS: obs, **(
            {Columns.STATE_IN: {k: torch.zeros(3, *v.shape)
                                for k, v in module.get_initial_state().items()}}
            if module.get_initial_state() else {})})
        assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 5, 2), name
    assert "fnn32" in MODELS
    with pytest.raises(ValueError, match="no default sizes for env 'rllib_iam/Warehouse-v0'"):
        build_module("fnn32")


# -- heuristic references ---------------------------------------------------------------------
def test_fixed_cycle_and_longest_queue_first_decide_as_described():
    from rllib_iam.heuristics import FixedCycle, LongestQueueFirst

    cycle = FixedCycle(3)
    fresh = np.array([True])
    actions = [int(cycle(np.zeros((1, 30)), fresh if t == 0 else ~fresh)[0]) for t in range(8)]
    assert actions == [0, 0, 0, 1, 1, 1, 0, 0]
    assert int(cycle(np.zeros((1, 30)), fresh)[0]) == 0  # a new episode restarts the cycle

    lqf = LongestQueueFirst()
    obs = np.zeros((3, 30), dtype=np.float32)
    obs[0, [4, 5]] = 1  # two cars on the north approach
    obs[1, [20]] = 1  # one on the west approach
    obs[2, [5, 21]] = 1  # one each: keep the last choice (north at the start)
    assert lqf(obs, np.ones(3, dtype=bool)).tolist() == [NORTH, WEST, NORTH]
    obs[2, 21] = 0
    obs[2, [13, 14, 28, 29]] = 1  # cars leaving the box count for neither approach
    obs[2, [19, 20]] = 1
    assert lqf(obs, np.zeros(3, dtype=bool)).tolist() == [NORTH, WEST, WEST]


def test_best_fixed_cycle_beats_random_on_the_same_episodes():
    from rllib_iam.heuristics import (
        TRAFFIC_CSV,
        FixedCycle,
        RandomLight,
        evaluate_traffic,
        load_reference,
    )

    committed = load_reference(TRAFFIC_CSV)
    best = next(p for p, quirks in committed if p.startswith("fixed_cycle") and quirks)
    period = int(best.removeprefix("fixed_cycle_k"))
    cycle, _ = evaluate_traffic(FixedCycle(period), episodes=4, seed=0, num_envs=4)
    random, _ = evaluate_traffic(RandomLight(0), episodes=4, seed=0, num_envs=4)
    assert -46 < random < -34 and cycle > random + 15
    assert committed["random", True] < committed["longest_queue", True] < committed[best, True]
