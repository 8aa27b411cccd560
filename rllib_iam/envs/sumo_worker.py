"""A child process that owns one libsumo simulation of the Traffic task.

libsumo runs SUMO inside the Python process and allows one simulation per process, so each
extra simulation of a `TrafficVectorEnv` lives in one of these. The parent starts it as
``python -m rllib_iam.envs.sumo_worker READ_FD WRITE_FD`` and sends ``(method, args)`` tuples
over the two pipes; the worker answers ``("ok", result)`` or ``("error", message)``. It exits on
``close`` or when the parent's end of the pipe closes (the parent died).
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection


def serve(inbox: Connection, outbox: Connection) -> None:
    from rllib_iam.envs.traffic_sim import TrafficSim

    sim = None
    while True:
        try:
            method, args = inbox.recv()
        except (EOFError, OSError):
            break
        if method == "close":
            break
        try:
            if method == "init":
                sim = TrafficSim(*args)
                result = None
            else:
                result = getattr(sim, method)(*args)
            outbox.send(("ok", result))
        except Exception as err:  # reported to the parent, which raises it
            outbox.send(("error", f"{type(err).__name__}: {err}"))
    if sim is not None:
        sim.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1]), writable=False),
          Connection(int(sys.argv[2]), readable=False))
