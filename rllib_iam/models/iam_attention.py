"""IAM with dynamic attention (Atari): the memory reads a soft choice of CNN regions.

The paper's "dynamic" d-set for images: D(o_t) is not a fixed set of inputs but an attention
over the 7x7 = 49 regions of the CNN map, steered by the memory's own previous output, so the
small LSTM chooses where to look at every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from torch import nn

from rllib_iam import ATARI_IDS
from rllib_iam.models.base import ZooModule
from rllib_iam.models.layers import FNN, NatureCNN, State, Trunk

ATTENTION = "attention"
"""Forward-output key of the attention weights, ``(B, T, 49)`` or ``(B, 49)``."""


class RegionAttention(nn.Module):
    """α_t = softmax_i( w · tanh(A r_i + B h_{t-1}) ) over the regions r_i; no biases."""

    def __init__(self, region_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.region_map = nn.Linear(region_size, attention_size, bias=False)  # A
        self.memory_map = nn.Linear(memory_size, attention_size, bias=False)  # B
        self.score = nn.Linear(attention_size, 1, bias=False)  # w

    def forward(self, mapped_regions: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``mapped_regions``: A r, (B, R, attention); ``h``: (B, H) -> weights (B, R)."""
        scores = self.score(torch.tanh(mapped_regions + self.memory_map(h).unsqueeze(1)))
        return torch.softmax(scores.squeeze(-1), dim=-1)


class IAMAttentionTrunk(Trunk):
    """CNN map -> FNN branch over the whole map ‖ LSTM over [Σ α_i r_i, α]; features [x_t, d_t].

    The attention of the last forward call stays in `last_attention` for the module to return.
    """

    def __init__(self, channels: int, config: dict[str, Any]) -> None:
        super().__init__()
        self.cnn = NatureCNN(channels)
        depth, rows, cols = self.cnn.map_shape
        self.n_regions = rows * cols
        self.fnn_branch = FNN(self.cnn.out_size, config["fnn_hiddens"])
        memory_size = config["memory_size"]
        self.attention = RegionAttention(depth, memory_size, config["attention_size"])
        self.memory_branch = nn.LSTMCell(depth + self.n_regions, memory_size)
        self.memory_size = memory_size
        self.out_size = self.fnn_branch.out_size + memory_size
        self.last_attention: torch.Tensor | None = None

    def initial_state(self) -> dict:
        zeros = np.zeros(self.memory_size, np.float32)
        return {"h": zeros, "c": zeros.copy()}

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """``obs``: (B, T, k, 84, 84) -> features (B, T, out_size) and the state after step T."""
        maps = self.cnn(obs)  # (B, T, 64, 7, 7)
        x = self.fnn_branch(maps.flatten(-3))
        regions = maps.flatten(-2).transpose(-1, -2)  # (B, T, 49, 64)
        mapped = self.attention.region_map(regions)  # A r for every step at once
        h, c = state["h"], state["c"]
        outputs, weights = [], []
        for t in range(regions.shape[1]):
            alpha = self.attention(mapped[:, t], h)
            glimpse = torch.einsum("br,brd->bd", alpha, regions[:, t])
            h, c = self.memory_branch(torch.cat([glimpse, alpha], dim=-1), (h, c))
            outputs.append(h)
            weights.append(alpha)
        self.last_attention = torch.stack(weights, dim=1)
        return torch.cat([x, torch.stack(outputs, dim=1)], dim=-1), {"h": h, "c": c}


class IAMAttentionModule(ZooModule):
    """IAM for images: Nature CNN; FNN 256 over the map ‖ LSTM(16) over an attended region.

    Keys: `fnn_hiddens`, `memory_size`, `attention_size` (the width of A r and B h), plus the
    common `shared_trunk`, `param_budget`, `max_seq_len`. The forward passes also return the
    attention weights under ``"attention"``.

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("iam_attention", "rllib_iam/FlickeringPong-v0")
        >>> obs = torch.randint(0, 256, (2, 3, 1, 84, 84), dtype=torch.uint8)
        >>> out = module.forward_inference({Columns.OBS: obs})
        >>> out[Columns.ACTION_DIST_INPUTS].shape, out["attention"].shape
        (torch.Size([2, 3, 6]), torch.Size([2, 3, 49]))
        >>> out[Columns.STATE_OUT]["h"].shape
        torch.Size([2, 16])
    """

    NAME = "iam_attention"
    DEFAULTS = {
        env_id: {"fnn_hiddens": [256], "memory_size": 16, "attention_size": 64}
        for env_id in ATARI_IDS
    }
    WIDTHS = ("fnn_hiddens", "memory_size", "attention_size")

    @classmethod
    def build_trunk(cls, obs_size: int, config: dict[str, Any]) -> Trunk:
        raise ValueError(f"model {cls.NAME!r} needs (k, 84, 84) image observations")

    @classmethod
    def build_image_trunk(cls, shape: tuple[int, int, int], config: dict[str, Any]) -> Trunk:
        return IAMAttentionTrunk(shape[0], config)

    def _actor_forward(self, batch: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
        out, features = super()._actor_forward(batch)
        weights = self.trunk.last_attention
        if batch[Columns.OBS].dim() == self._obs_dims + 1:  # no time axis
            weights = weights.squeeze(1)
        out[ATTENTION] = weights
        return out, features
