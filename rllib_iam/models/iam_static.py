"""IAM static: the paper's FNN+RNN ablation, whose memory reads the whole observation."""

from __future__ import annotations

from typing import Any

from torch import nn

from rllib_iam import ATARI_IDS
from rllib_iam.models.iam import IAMModule


class IAMStaticModule(IAMModule):
    """As `iam`, but the LSTM reads all inputs: tests whether restricting it to D matters.

    Keys: those of `iam` without `d_set`.

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("iam_static")
        >>> module.trunk.memory_branch.rnn.input_size
        73
        >>> out = module.forward_inference({Columns.OBS: torch.rand(2, 73)})
        >>> out[Columns.ACTION_DIST_INPUTS].shape
        torch.Size([2, 4])
    """

    NAME = "iam_static"
    DEFAULTS = {
        **{
            env_id: {k: v for k, v in sizes.items() if k != "d_set"}
            for env_id, sizes in IAMModule.DEFAULTS.items()
        },
        # Atari: as `iam_attention`, with the whole CNN map (3136 inputs) into the LSTM.
        **{env_id: {"fnn_hiddens": [256], "memory_size": 16} for env_id in ATARI_IDS},
    }

    @classmethod
    def build_d_map(cls, obs_size: int, config: dict[str, Any]) -> tuple[nn.Module, int]:
        return nn.Identity(), obs_size
