"""IAM with a GRU memory: the variant the seed reproduction ran."""

from __future__ import annotations

from rllib_iam.models.iam import IAMModule


class IAMGRUModule(IAMModule):
    """As `iam`, with a GRU in the memory branch (same keys and sizes).

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("iam_gru")
        >>> out = module.forward_inference({Columns.OBS: torch.rand(2, 5, 73)})
        >>> sorted(out[Columns.STATE_OUT])
        ['h']
    """

    NAME = "iam_gru"
    CELL = "gru"
