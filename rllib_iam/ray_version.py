"""The Ray release the fence is written for, and the check the fenced packages run on import.

`rllib_iam.ppo` and `rllib_iam.tune` use private RLlib and Tune names (docs/internals.md); a new
Ray release is what breaks them, so importing either package checks the Ray version first:
another version is refused with the pin to install (``RLLIB_IAM_ANY_RAY=1`` tries it anyway,
with a warning). The models, envs and analysis use public names only and do not check.
"""

import os
import warnings

import ray

SUPPORTED_RAY = "2.60.0"
"""The Ray release whose private names the fence uses (requirements.txt pins it)."""


def check_ray_version(version: str = ray.__version__, override: str | None = None) -> None:
    """ImportError for a Ray other than `SUPPORTED_RAY`, or only a warning where
    ``RLLIB_IAM_ANY_RAY=1`` (`override`) says to try it."""
    if version == SUPPORTED_RAY:
        return
    override = os.environ.get("RLLIB_IAM_ANY_RAY", "") if override is None else override
    message = (f"rllib_iam needs Ray {SUPPORTED_RAY}, found {version}: it uses private RLlib "
               "and Tune names that change between releases (docs/internals.md); install "
               f"the pin with pip install 'ray[rllib,default]=={SUPPORTED_RAY}'")
    if override == "1":
        warnings.warn(f"{message} (RLLIB_IAM_ANY_RAY=1: trying anyway)", stacklevel=2)
        return
    raise ImportError(f"{message}, or set RLLIB_IAM_ANY_RAY=1 to try this one anyway")
