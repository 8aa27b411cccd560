"""Feedforward baseline on the last 32 observations: Traffic's memory by frame stacking."""

from __future__ import annotations

from rllib_iam import TRAFFIC_ID
from rllib_iam.models.fnn import FNNModule


class FNN32Module(FNNModule):
    """FNN 960->128->64 on 32 stacked Traffic observations, which the env stacks (`ENV_CONFIG`).

    Sizes: the reference's Traffic FNN config with ``num_frames: 32`` (obs size 960,
    ``num_fc_units: [128, 64]``).

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module, env_config_for
        >>> env_config_for("fnn32", "rllib_iam/Traffic-v0")
        {'frame_stack': 32}
        >>> module = build_module("fnn32", "rllib_iam/Traffic-v0")
        >>> out = module.forward_inference({Columns.OBS: torch.rand(8, 960)})
        >>> out[Columns.ACTION_DIST_INPUTS].shape
        torch.Size([8, 2])
    """

    NAME = "fnn32"
    ENV_CONFIG = {"frame_stack": 32}
    DEFAULTS = {TRAFFIC_ID: {"fnn_hiddens": [128, 64]}}
