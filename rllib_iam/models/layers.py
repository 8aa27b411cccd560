"""The layers the zoo's models are built from: dense stacks, the Nature CNN and the trunks.

A *trunk* (`Trunk`) maps an observation sequence and a recurrent state to features and the next
state; `rllib_iam.models.base.ZooModule` puts a policy head and a value head on one. `FNN` is the
paper's bias-free ReLU stack, `Memory` the one LSTM/GRU wrapper (state as a dict of ``(B, H)``
tensors, as RLlib stores it), `NatureCNN` the Nature-DQN convolutions for ``(k, 84, 84)`` images
and `ImageTrunk` the CNN followed by any vector trunk over its flattened map.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

State = dict[str, Any]
"""A trunk's recurrent state: ``{"h": (B, H)}`` or ``{"h", "c"}``; nested per trunk if unshared."""


class FNN(nn.Sequential):
    """Dense layers without bias, each followed by ReLU: the paper's hidden layers."""

    def __init__(self, in_size: int, hiddens: list[int]) -> None:
        layers: list[nn.Module] = []
        for width in hiddens:
            layers += [nn.Linear(in_size, width, bias=False), nn.ReLU()]
            in_size = width
        super().__init__(*layers)
        self.out_size = in_size

    def reset_parameters(self) -> None:
        """Orthogonal with gain sqrt(2), the usual choice ahead of a ReLU."""
        for layer in self:
            if isinstance(layer, nn.Linear):
                nn.init.orthogonal_(layer.weight, math.sqrt(2))


class NatureCNN(nn.Sequential):
    """The Nature-DQN convolutions (32x8x8/4, 64x4x4/2, 64x3x3/1, ReLU): k x 84 x 84 -> 64 x 7 x 7.

    Reads uint8 pixels and scales them to [0, 1].
    """

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
        )
        self.map_shape = (64, 7, 7)
        self.out_size = 64 * 7 * 7

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames``: (..., k, 84, 84) -> maps (..., 64, 7, 7)."""
        lead = frames.shape[:-3]
        maps = super().forward(frames.reshape(-1, *frames.shape[-3:]).float() / 255.0)
        return maps.reshape(*lead, *self.map_shape)

    def reset_parameters(self) -> None:
        """Orthogonal with gain sqrt(2), zero biases."""
        for layer in self:
            if isinstance(layer, nn.Conv2d):
                nn.init.orthogonal_(layer.weight, math.sqrt(2))
                nn.init.zeros_(layer.bias)


class Trunk(nn.Module):
    """Maps observations (B, T, obs) and a state to features (B, T, out_size) and a state.

    Feedforward trunks keep the empty state and work on any leading dimensions.
    """

    out_size: int

    def initial_state(self) -> dict[str, np.ndarray]:
        return {}

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        raise NotImplementedError


class ImageTrunk(Trunk):
    """The CNN, then any vector trunk over the flattened map (its state is the inner trunk's)."""

    def __init__(self, cnn: NatureCNN, inner: Trunk) -> None:
        super().__init__()
        self.cnn = cnn
        self.inner = inner
        self.out_size = inner.out_size

    def initial_state(self) -> dict[str, np.ndarray]:
        return self.inner.initial_state()

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self.inner(self.cnn(obs).flatten(-3), state)


class Memory(Trunk):
    """One LSTM or GRU layer whose state is a dict of ``(B, H)`` tensors, as RLlib stores it.

    torch's cells carry two bias vectors where the paper's TensorFlow cells carry one: an LSTM
    here has 4H (GRU: 3H) more parameters than the reference, the same function class.
    """

    def __init__(self, in_size: int, hidden_size: int, cell: str) -> None:
        super().__init__()
        self.is_lstm = cell == "lstm"
        self.rnn = (nn.LSTM if self.is_lstm else nn.GRU)(in_size, hidden_size, batch_first=True)
        self.out_size = hidden_size

    def initial_state(self) -> dict[str, np.ndarray]:
        zeros = np.zeros(self.out_size, np.float32)
        return {"h": zeros, "c": zeros.copy()} if self.is_lstm else {"h": zeros}

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """``x``: (B, T, in_size) -> outputs (B, T, H) and the state after the last step."""
        if x.shape[1] == 1:
            return self._single_step(x, state)
        if self.is_lstm:
            y, (h, c) = self.rnn(x, (state["h"].unsqueeze(0), state["c"].unsqueeze(0)))
            return y, {"h": h[0], "c": c[0]}
        y, h = self.rnn(x, state["h"].unsqueeze(0))
        return y, {"h": h[0]}

    def _single_step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One step through torch's fused cell, with the same weights and the same numbers.

        The env runner asks for one step at a time; at B=8 `nn.LSTM`'s sequence path costs
        about three times the fused cell (see docs/models.md).
        """
        rnn = self.rnn
        weights = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
        if self.is_lstm:
            h, c = torch.lstm_cell(x[:, 0], (state["h"], state["c"]), *weights)
            return h.unsqueeze(1), {"h": h, "c": c}
        h = torch.gru_cell(x[:, 0], state["h"], *weights)
        return h.unsqueeze(1), {"h": h}
