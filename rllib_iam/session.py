"""Starting Ray on a busy machine.

Ray gives a local node 30 seconds (a constant in Ray's node startup code, not a setting) to
register with its GCS, and raises a bare ``Exception`` when it does not: on a machine whose cores
are busy (a 2-core laptop running two trials and a test suite) that happens now and then, and a user
saw a traceback before any trial ran. `start_ray` tries once more after a clean shutdown, which
gets past a passing spell of load (not a machine that stays loaded: beside two trials and the
slow tests both tries timed out), and otherwise raises `RayStartError` with one line saying what
to do.
"""

from __future__ import annotations

import sys
from typing import Any

STARTUP_TIMEOUT = "timed out during startup"
"""What Ray's exception says when its local node missed the 30 s registration window."""


class RayStartError(RuntimeError):
    """Ray's local node did not start (twice): one line for the user."""


def start_ray(attempts: int = 2, **kwargs: Any) -> None:
    """``ray.init(**kwargs)`` unless Ray is running, retried after a shutdown when the local
    node times out during startup (`attempts` tries in all); `RayStartError` after the last.
    With ``RAY_ADDRESS`` set this connects to that cluster, as ``ray.init`` does."""
    import ray

    if ray.is_initialized():
        return
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**kwargs)
            return
        except Exception as err:  # Ray raises a bare Exception for this
            if STARTUP_TIMEOUT not in str(err):
                raise
            ray.shutdown()
            if attempt < attempts:
                print(f"Ray's local node timed out during startup (the machine is busy?); "
                      f"starting it again ({attempt + 1} of {attempts})", file=sys.stderr)
    raise RayStartError(
        f"Ray's local node timed out during startup {attempts} times: the machine's cores are "
        "too busy for Ray to start; try again with fewer processes running, or start Ray "
        "first (`ray start --head`) and set RAY_ADDRESS"
    )
