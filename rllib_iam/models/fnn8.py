"""Feedforward baseline on the last 8 observations: memory by frame stacking."""

from __future__ import annotations

from rllib_iam import WAREHOUSE_ID
from rllib_iam.models.fnn import FNNModule


class FNN8Module(FNNModule):
    """FNN 584->640->256 on 8 stacked observations, which the env stacks (`ENV_CONFIG`).

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module, env_config_for
        >>> env_config_for("fnn8")
        {'frame_stack': 8}
        >>> module = build_module("fnn8")
        >>> out = module.forward_inference({Columns.OBS: torch.rand(8, 584)})
        >>> out[Columns.ACTION_DIST_INPUTS].shape
        torch.Size([8, 4])
    """

    NAME = "fnn8"
    ENV_CONFIG = {"frame_stack": 8}
    DEFAULTS = {WAREHOUSE_ID: {"fnn_hiddens": [640, 256]}}
