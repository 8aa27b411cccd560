"""LSTM baseline: one LSTM straight on the observation (the reference's dense layer is unused)."""

from __future__ import annotations

from typing import Any, ClassVar

from rllib_iam import ATARI_IDS, TRAFFIC_ID, WAREHOUSE_ID
from rllib_iam.models.base import ZooModule
from rllib_iam.models.layers import Memory


class LSTMModule(ZooModule):
    """LSTM(256) on the 73 Warehouse inputs; heads read its output.

    Keys: `memory_size`, plus the common `shared_trunk`, `param_budget`, `max_seq_len`.

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("lstm", memory_size=32)
        >>> state = {k: torch.zeros(2, 32) for k in ("h", "c")}
        >>> out = module.forward_train({Columns.OBS: torch.rand(2, 5, 73), Columns.STATE_IN: state})
        >>> module.compute_values({}, embeddings=out[Columns.EMBEDDINGS]).shape
        torch.Size([2, 5])
    """

    NAME = "lstm"
    CELL: ClassVar[str] = "lstm"
    DEFAULTS = {
        WAREHOUSE_ID: {"memory_size": 256},
        # Atari: the Nature CNN, then LSTM(512) over its flattened 7x7x64 map.
        **{env_id: {"memory_size": 512} for env_id in ATARI_IDS},
        TRAFFIC_ID: {"memory_size": 128},
    }
    WIDTHS = ("memory_size",)

    @classmethod
    def build_trunk(cls, obs_size: int, config: dict[str, Any]) -> Memory:
        return Memory(obs_size, config["memory_size"], cls.CELL)
