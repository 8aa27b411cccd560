"""Fault injection for tests/test_reliability.py; never imported by the project itself.

A test puts this folder on ``PYTHONPATH``; Python then imports this module at the start of every
process of the run (the driver, Ray's workers, env runners), all of which inherit the variable.
With ``RLLIB_IAM_FAULT=<marker file>:<step>`` set too, the first process whose Warehouse vector
env reaches its ``<step>``-th ``step()`` call creates the marker file and dies at once
(``os._exit``: no cleanup, like a killed or out-of-memory process). The marker makes it happen
once per test however many processes step envs, and tells the test which process died
(its command line is written into the marker).
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from pathlib import Path

TARGET = "rllib_iam.envs.warehouse"


def _crash_on_cue(module, marker: str, at_step: int) -> None:
    vector_env = module.WarehouseVectorEnv
    original = vector_env.step
    calls = [0]

    def step(self, actions):
        calls[0] += 1
        if calls[0] == at_step:
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                command = Path(f"/proc/{os.getpid()}/cmdline").read_text().replace("\0", " ")
                with open(fd, "w") as f:
                    f.write(command.strip())
                os._exit(17)
        return original(self, actions)

    vector_env.step = step


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Lets the real import of `TARGET` run, then patches the module it made."""

    def __init__(self, marker: str, at_step: int) -> None:
        self.marker, self.at_step = marker, at_step

    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _crash_on_cue(module, self.marker, self.at_step)

        spec.loader.exec_module = exec_and_patch
        return spec


_fault = os.environ.get("RLLIB_IAM_FAULT")
if _fault:
    _marker, _step = _fault.rsplit(":", 1)
    sys.meta_path.insert(0, _PatchAfterImport(_marker, int(_step)))
