"""IAM automatic: D is a learned linear map from the observation to k memory inputs."""

from __future__ import annotations

from typing import Any

from torch import nn

from rllib_iam import TRAFFIC_ID
from rllib_iam.models.iam import IAMModule
from rllib_iam.models.sizing import check_width


class IAMAutoModule(IAMModule):
    """As `iam`, with D = A o_t (no bias, A of shape k x obs) learned instead of chosen by hand.

    Keys: those of `iam` with `d_size` (k, default the env's reference d-set's size: 25 on
    Warehouse, 4 on Traffic) for `d_set`.

    Example:
        >>> import torch
        >>> from ray.rllib.core.columns import Columns
        >>> from rllib_iam.models import build_module
        >>> module = build_module("iam_auto", d_size=10)
        >>> module.trunk.d_map
        Linear(in_features=73, out_features=10, bias=False)
        >>> out = module.forward_inference({Columns.OBS: torch.rand(2, 5, 73)})
        >>> out[Columns.ACTION_DIST_INPUTS].shape
        torch.Size([2, 5, 4])
    """

    NAME = "iam_auto"
    DEFAULTS = {
        env_id: {**{k: v for k, v in sizes.items() if k != "d_set"},
                 "d_size": 4 if env_id == TRAFFIC_ID else 25}
        for env_id, sizes in IAMModule.DEFAULTS.items()
    }

    @classmethod
    def build_d_map(cls, obs_size: int, config: dict[str, Any]) -> tuple[nn.Module, int]:
        d_size = check_width("d_size", config["d_size"])
        if not isinstance(d_size, int):
            raise ValueError(f"d_size must be one positive integer, got {d_size!r}")
        return nn.Linear(obs_size, d_size, bias=False), d_size
