"""IAM: an FNN over the whole observation beside a small LSTM over the d-set (Suau et al.)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from rllib_iam import TRAFFIC_ID, WAREHOUSE_ID
from rllib_iam.envs.registry import spec_for
from rllib_iam.models.base import ZooModule
from rllib_iam.models.layers import FNN, Memory, State, Trunk


class DSet(nn.Module):
    """The manual d-set D(o_t): a fixed list of observation indices."""

    def __init__(self, indices: list[int]) -> None:
        super().__init__()
        self.register_buffer("indices", torch.tensor(indices, dtype=torch.long), persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.index_select(-1, self.indices)


class IAMTrunk(Trunk):
    """x_t = F(o_t), d_t = RNN(d_{t-1}, D(o_t)); features [x_t, d_t]. x_t never enters the RNN."""

    def __init__(self, fnn_branch: FNN, d_map: nn.Module, memory_branch: Memory) -> None:
        super().__init__()
        self.fnn_branch = fnn_branch
        self.d_map = d_map
        self.memory_branch = memory_branch
        self.out_size = fnn_branch.out_size + memory_branch.out_size

    def initial_state(self) -> dict:
        return self.memory_branch.initial_state()

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        d, state = self.memory_branch(self.d_map(obs), state)
        return torch.cat([self.fnn_branch(obs), d], dim=-1), state


class IAMModule(ZooModule):
    """The influence-aware memory of the paper: FNN 73->576->256 beside LSTM(64) on 25 inputs.

    Keys: `fnn_hiddens`, `memory_size`, `d_set` (a name of the env's d-sets, e.g.
    `rllib_iam.envs.warehouse.D_SETS`, or an index list; its `EnvSpec.resolve_d_set` reads it),
    plus the common `shared_trunk`, `param_budget`, `max_seq_len`.

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("iam", d_set="items")
        >>> out = module.forward_inference({Columns.OBS: torch.rand(2, 5, 73)})
        >>> out[Columns.ACTION_DIST_INPUTS].shape, out[Columns.STATE_OUT]["h"].shape
        (torch.Size([2, 5, 4]), torch.Size([2, 64]))
    """

    NAME = "iam"
    CELL: ClassVar[str] = "lstm"
    DEFAULTS = {
        WAREHOUSE_ID: {"fnn_hiddens": [576, 256], "memory_size": 64, "d_set": "reference"},
        TRAFFIC_ID: {"fnn_hiddens": [248, 64], "memory_size": 8, "d_set": "reference"},
    }
    WIDTHS = ("fnn_hiddens", "memory_size")

    @classmethod
    def build_d_map(cls, obs_size: int, config: dict[str, Any]) -> tuple[nn.Module, int]:
        """D and the number of inputs it gives the memory; the variants differ only here."""
        d_set = config["d_set"]
        if not isinstance(d_set, (str, list, tuple)):
            raise ValueError(f"d_set must be a name or a list of indices, got {d_set!r}")
        indices = spec_for(config["env_id"]).resolve_d_set(d_set, obs_size)
        return DSet(indices), len(indices)

    @classmethod
    def build_trunk(cls, obs_size: int, config: dict[str, Any]) -> IAMTrunk:
        d_map, d_size = cls.build_d_map(obs_size, config)
        memory = Memory(d_size, config["memory_size"], cls.CELL)
        return IAMTrunk(FNN(obs_size, config["fnn_hiddens"]), d_map, memory)
