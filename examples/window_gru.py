"""A memory model of your own, in a file of its own: a GRU over the last k observations.

The env stacks the last k observations (Warehouse's ``frame_stack`` option, newest first, zeros
before the episode's first step); every step the GRU reads that window oldest first, from a
zero state, and its last output is the features. Its memory is exactly k steps long, and it
carries no state between steps, so RLlib trains it as a feedforward model (no BPTT).

Use it by name, with the file's folder on the path (README: Bring your own model):

    PYTHONPATH=examples python experiments/figure5.py --models iam,window_gru:window_gru \\
        --profile smoke
    PYTHONPATH=examples python experiments/figure5.py --models window_gru:window_gru \\
        --param-budget iam --name window-gru-matched

    >>> from rllib_iam.models import build_module, count_params
    >>> module = build_module("window_gru:window_gru")
    >>> count_params(module)
    78593
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rllib_iam import WAREHOUSE_ID
from rllib_iam.models import ZooModule, register
from rllib_iam.models.layers import State, Trunk


class WindowGRUTrunk(Trunk):
    """(B, k * obs) stacked frames, newest first -> the GRU's last output over them."""

    def __init__(self, obs_size: int, window: int, hidden: int) -> None:
        super().__init__()
        if obs_size % window:
            raise ValueError(f"observation size {obs_size} is not {window} stacked frames")
        self.window, self.frame = window, obs_size // window
        self.gru = nn.GRU(self.frame, hidden, batch_first=True)
        self.out_size = hidden

    def initial_state(self) -> dict:
        return {}  # nothing carried from step to step: the window is the memory

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        frames = obs.reshape(*obs.shape[:-1], self.window, self.frame).flip(-2)  # oldest first
        batch = frames.reshape(-1, self.window, self.frame)
        out, _ = self.gru(batch)
        return out[:, -1].reshape(*obs.shape[:-1], -1), state


@register
class WindowGRU(ZooModule):
    """GRU(128) over the last 8 Warehouse observations, which the env stacks (`ENV_CONFIG`).
    ``--model-config '{"hidden": 64}'`` sets the width, ``--param-budget`` scales it; a
    subclass with another `WINDOW` (and `NAME`) has another memory length."""

    NAME = "window_gru"
    WINDOW = 8
    DEFAULTS = {WAREHOUSE_ID: {"hidden": 128}}
    WIDTHS = ("hidden",)
    ENV_CONFIG = {"frame_stack": WINDOW}

    @classmethod
    def build_trunk(cls, obs_size: int, config: dict[str, Any]) -> WindowGRUTrunk:
        return WindowGRUTrunk(obs_size, cls.WINDOW, config["hidden"])
