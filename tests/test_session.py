"""Starting Ray on a busy machine (`rllib_iam.session.start_ray`): one more try after Ray's
local node misses its 30 s startup window, then one line for the user."""

from __future__ import annotations

import pytest

from rllib_iam import session
from tests.test_figure5 import script

TIMEOUT = ("The current node timed out during startup. This could happen because some of the "
           "raylet failed to startup or the GCS has become overloaded.")


@pytest.fixture
def fake_ray(monkeypatch):
    """`ray.init` failing with Ray's startup timeout the first `failures` times."""
    import ray

    calls = {"init": [], "shutdown": 0, "failures": 1}

    def init(**kwargs):
        calls["init"].append(kwargs)
        if len(calls["init"]) <= calls["failures"]:
            raise Exception(TIMEOUT)

    def shutdown():
        calls["shutdown"] += 1

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", shutdown)
    return calls


def test_a_startup_timeout_is_retried_once_after_a_shutdown(fake_ray, capsys):
    session.start_ray(num_cpus=2)
    assert fake_ray["init"] == [{"num_cpus": 2}, {"num_cpus": 2}]
    assert fake_ray["shutdown"] == 1
    err = capsys.readouterr().err
    assert "timed out during startup" in err and "(2 of 2)" in err


def test_two_timeouts_give_one_line_for_the_user(fake_ray):
    fake_ray["failures"] = 2
    with pytest.raises(session.RayStartError) as raised:
        session.start_ray()
    assert len(fake_ray["init"]) == 2 and fake_ray["shutdown"] == 2
    message = str(raised.value)
    assert "\n" not in message and "ray start --head" in message and "RAY_ADDRESS" in message


def test_other_errors_are_not_retried(monkeypatch):
    import ray

    def init(**kwargs):
        raise ConnectionError("could not reach the cluster at ray://nowhere:10001")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(ConnectionError, match="nowhere"):
        session.start_ray()


def test_a_running_ray_is_left_alone(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "init", lambda **kwargs: pytest.fail("ray.init called"))
    session.start_ray()


@pytest.mark.parametrize("flag", [[], ["--estimate"]])
def test_figure5_says_so_in_one_line_and_exits_1(flag, fake_ray, tmp_path, capsys):
    """Through the script's own `main`, with Ray's start failing twice: no traceback, nothing
    written."""
    fake_ray["failures"] = 2
    code = script().main(["--profile", "smoke", "--models", "fnn", *flag,
                          "--storage-path", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("figure5.py: error: Ray's local node timed out during startup 2 ")
    assert not (tmp_path / "s").exists()


def test_ppo_search_says_so_in_one_line_and_exits_1(fake_ray, tmp_path, capsys):
    import importlib.util

    from tests.test_figure5 import ROOT

    spec = importlib.util.spec_from_file_location("ppo_search_script",
                                                  ROOT / "experiments/ppo_search.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fake_ray["failures"] = 2
    code = module.main(["--samples", "2", "--timesteps", "2048", "--grace", "1024",
                        "--storage-path", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("ppo_search: error: Ray's local node timed out during startup")
    assert not (tmp_path / "s").exists()
