"""GRU baseline: the recurrent network the reproductions found hardest to beat."""

from __future__ import annotations

from rllib_iam.models.lstm import LSTMModule


class GRUModule(LSTMModule):
    """A GRU straight on the observation, as large as `lstm`'s LSTM unless configured.

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("gru")
        >>> out = module.forward_inference({Columns.OBS: torch.rand(8, 1, 73)})
        >>> out[Columns.STATE_OUT]["h"].shape
        torch.Size([8, 256])
    """

    NAME = "gru"
    CELL = "gru"
