"""gymnasium rendering of every env: ``render_mode="rgb_array"`` frames that follow the state,
gymnasium's wrappers over them (`RenderCollection`, `RecordVideo`), the vector forms, and what
each env draws."""

from __future__ import annotations

import warnings

import cv2
import gymnasium as gym
import numpy as np
import pytest

import rllib_iam
from rllib_iam.envs.traffic import _px, draw_scene
from rllib_iam.envs.warehouse import CELL_PX, GRID, SHELF_CELLS, WarehouseVectorEnv

PONG = "rllib_iam/FlickeringPong-v0"
SHAPES = {rllib_iam.WAREHOUSE_ID: (280, 280, 3), rllib_iam.TRAFFIC_ID: (480, 480, 3),
          PONG: (210, 160, 3)}
"""Each env's frame; the steps below change what it shows (the robot moves, cars drive off,
the ball moves)."""
ENV_IDS = list(SHAPES)


def frames_of(env: gym.Env, steps: int, action: int = 0) -> list[np.ndarray]:
    env.reset(seed=0)
    frames = [env.render()]
    for _ in range(steps):
        env.step(action)
        frames.append(env.render())
    return frames


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_rgb_array_frames_follow_the_state_and_the_seed(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    try:
        assert env.render_mode == "rgb_array"
        assert "rgb_array" in env.metadata["render_modes"] and env.metadata["render_fps"] > 0
        frames = frames_of(env, 12)
        again = frames_of(env, 12)
    finally:
        env.close()
    for frame in frames:
        assert frame.shape == SHAPES[env_id] and frame.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1])
    assert all(np.array_equal(a, b) for a, b in zip(frames, again, strict=True))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_rgb_array_list_collects_a_frame_per_reset_and_step(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array_list")
    try:
        assert isinstance(env, gym.wrappers.RenderCollection)
        env.reset(seed=0)
        for _ in range(3):
            env.step(0)
        frames = env.render()
    finally:
        env.close()
    assert len(frames) == 4 and all(f.shape == SHAPES[env_id] for f in frames)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_envs_render_one_frame_per_sub_env(env_id: str) -> None:
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                        render_mode="rgb_array")
    try:
        assert envs.render_mode == "rgb_array"
        envs.reset(seed=0)
        for _ in range(12):
            envs.step(np.array([0, 1]))
        frames = envs.render()
    finally:
        envs.close()
    assert len(frames) == 2 and all(f.shape == SHAPES[env_id] for f in frames)
    assert not np.array_equal(*frames)  # other seeds (and actions): other states


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_record_video_writes_the_recorded_steps(env_id: str, tmp_path) -> None:
    pytest.importorskip("moviepy", reason="RecordVideo writes through moviepy")
    env = gym.wrappers.RecordVideo(
        gym.make(env_id, render_mode="rgb_array"), str(tmp_path / "videos"),
        step_trigger=lambda step: step == 0, video_length=10, disable_logger=True,
    )
    rendered = frames_of(env, 15)
    env.close()
    (path,) = (tmp_path / "videos").glob("*.mp4")
    video = cv2.VideoCapture(str(path))
    frames = []
    try:
        while (read := video.read())[0]:
            frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    finally:
        video.release()
    # the reset's frame, then 10 steps (moviepy drops the last one at some frame rates)
    assert len(frames) in (10, 11)
    assert all(f.shape == SHAPES[env_id] for f in frames)
    for seen, drawn in zip(frames, rendered, strict=False):  # equal up to the codec's loss
        assert np.abs(seen.astype(int) - drawn).mean() < 8


@pytest.mark.parametrize("env_id", [rllib_iam.WAREHOUSE_ID, rllib_iam.TRAFFIC_ID])
def test_human_mode_shows_the_rgb_frames_in_a_pygame_window(env_id: str, monkeypatch) -> None:
    """``render_mode="human"``: gymnasium's `HumanRendering` over the env's ``rgb_array``
    frames, in a pygame window (SDL's dummy video driver: no display needed)."""
    pygame = pytest.importorskip("pygame", reason="human mode draws through pygame")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    env = gym.make(env_id, render_mode="human")
    assert env.render_mode == "human"
    env.reset(seed=0)
    env.step(0)
    try:
        window = pygame.display.get_surface()
        assert window is not None and window.get_size() == SHAPES[env_id][1::-1]
        shown = np.transpose(pygame.surfarray.array3d(window), (1, 0, 2))
        assert shown.shape == SHAPES[env_id] and shown.any()  # the env's frame, not a blank
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a_bad_render_mode_is_a_one_line_error(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's own warning about the unknown mode
        with pytest.raises(ValueError, match=r"^render_mode must be 'rgb_array'.* or None, "
                                             r"got 'rgb'$"):
            gym.make(env_id, render_mode="rgb")
        with pytest.raises(ValueError, match=r"^render_mode must be 'rgb_array'"):
            gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                         render_mode="rgb")


@pytest.mark.parametrize("env_id", [rllib_iam.WAREHOUSE_ID, rllib_iam.TRAFFIC_ID])
def test_render_without_a_mode_warns_and_draws_nothing(env_id: str) -> None:
    env = gym.make(env_id)
    try:
        env.reset(seed=0)
        with pytest.warns(UserWarning, match="without a render mode draws nothing"):
            assert env.render() is None
    finally:
        env.close()


def test_traffic_renders_only_after_reset() -> None:
    envs = gym.make_vec(rllib_iam.TRAFFIC_ID, num_envs=1, vectorization_mode="vector_entry_point",
                        render_mode="rgb_array")
    try:
        with pytest.raises(RuntimeError, match=r"call reset\(\) before render\(\)"):
            envs.render()
    finally:
        envs.close()


# -- what each env draws -------------------------------------------------------------------
def cell_pixel(frame: np.ndarray, row: int, col: int, dy: int, dx: int) -> tuple[int, ...]:
    return tuple(frame[row * CELL_PX + dy, col * CELL_PX + dx].tolist())


BLUE, ORANGE, FLOOR = (30, 80, 220), (255, 140, 0), (200, 200, 200)


def test_warehouse_draws_the_robot_and_the_items_with_their_ages() -> None:
    env = WarehouseVectorEnv(1, render_mode="rgb_array")
    env.reset(seed=0)
    env.items[:] = 0
    top = [tuple(c) for c in SHELF_CELLS.tolist()].index((0, 3))
    env.place_item(0, top, age=2)
    (frame,) = env.render()
    centre = GRID // 2
    assert cell_pixel(frame, centre, centre, 20, 20) == BLUE
    assert cell_pixel(frame, 0, 3, 10, 10) == ORANGE
    assert cell_pixel(frame, 0, 2, 10, 10) != ORANGE
    env.place_item(0, top, age=5)
    (older,) = env.render()
    assert not np.array_equal(frame, older)  # the age is written on the item
    env._step(np.array([0]), np.full((1, 28), 2**32 - 1, dtype=np.uint32))  # up, no spawns
    (moved,) = env.render()
    assert cell_pixel(moved, centre - 1, centre, 20, 20) == BLUE
    assert cell_pixel(moved, centre, centre, 20, 20) == FLOOR


def test_traffic_draws_cars_observed_cells_and_the_light() -> None:
    frame = draw_scene([(38.4, 50.0)], [True], "rrGG", 12.0)

    def at(x: float, y: float) -> tuple[int, ...]:
        col, row = _px(x, y)
        return tuple(frame[int(row), int(col)].tolist())

    assert at(38.4, 49.0) == (230, 30, 30)  # the standing car
    assert at(41.5, 47.0) == (230, 200, 40)  # its cell (index 4) is observed
    assert at(41.5, 24.0) == (110, 110, 110)  # an empty cell shows the road
    assert at(38.4, 44.0) == (220, 0, 0)  # north approach red
    assert at(32.8, 38.4) == (0, 200, 0)  # west approach green
    moving = draw_scene([(38.4, 50.0)], [False], "rrGG", 12.0)
    col, row = _px(38.4, 49.0)
    assert tuple(moving[int(row), int(col)].tolist()) == (245, 245, 245)


def test_atari_renders_the_emulator_screen_which_flicker_never_blanks() -> None:
    env = gym.make(PONG, render_mode="rgb_array", flicker=0.5)
    env.reset(seed=0)
    blanked = 0
    for _ in range(20):
        obs = env.step(0)[0]
        frame = env.render()
        assert np.array_equal(frame, env.unwrapped.ale.getScreenRGB())
        if not obs.any():
            blanked += 1
            assert frame.any()
    env.close()
    assert blanked > 0


def test_atari_advertises_what_ale_py_renders() -> None:
    env = gym.make(PONG, render_mode="rgb_array")
    assert sorted(env.metadata["render_modes"]) == ["human", "rgb_array"]
    assert env.metadata["render_fps"] == 15  # 60 Hz emulator, 4 frames per step
    env.close()
