"""Feedforward baseline on one observation: no memory at all."""

from __future__ import annotations

from typing import Any

import torch

from rllib_iam import ATARI_IDS, TRAFFIC_ID, WAREHOUSE_ID
from rllib_iam.models.base import ZooModule
from rllib_iam.models.layers import FNN, State, Trunk


class FeedforwardTrunk(Trunk):
    """An FNN with the trunk interface; its state stays empty."""

    def __init__(self, obs_size: int, hiddens: list[int]) -> None:
        super().__init__()
        self.fnn = FNN(obs_size, hiddens)
        self.out_size = self.fnn.out_size

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self.fnn(obs), state


class FNNModule(ZooModule):
    """FNN 73->512->256 (ReLU, no bias) on the current observation.

    Keys: `fnn_hiddens`, plus the common `shared_trunk`, `param_budget`, `max_seq_len` (unused:
    nothing recurrent).

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("fnn", fnn_hiddens=[64])
        >>> out = module.forward_inference({Columns.OBS: torch.rand(8, 73)})
        >>> out[Columns.ACTION_DIST_INPUTS].shape
        torch.Size([8, 4])
    """

    NAME = "fnn"
    DEFAULTS = {
        WAREHOUSE_ID: {"fnn_hiddens": [512, 256]},
        # Atari: the Nature DQN (CNN, dense 512) on 4 stacked frames.
        **{env_id: {"fnn_hiddens": [512]} for env_id in ATARI_IDS},
        # Traffic: the IAM's FNN branch alone (30->248->64), so that only the memory differs.
        TRAFFIC_ID: {"fnn_hiddens": [248, 64]},
    }
    WIDTHS = ("fnn_hiddens",)
    ENV_CONFIG_BY_ENV = {env_id: {"frame_stack": 4} for env_id in ATARI_IDS}

    @classmethod
    def build_trunk(cls, obs_size: int, config: dict[str, Any]) -> FeedforwardTrunk:
        return FeedforwardTrunk(obs_size, config["fnn_hiddens"])
