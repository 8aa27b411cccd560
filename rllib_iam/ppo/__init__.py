"""PPO as the reference ran it, on RLlib 2.60's new API stack, and the fence around every use
of RLlib's and Tune's private names.

`PaperPPOTorchLearner` (scheduled clip ε, PPO2 value clipping) and `TruncatedGAE` (GAE cut and
bootstrapped every few steps) replace the pieces of RLlib's PPO that cannot express the
reference's settings; `rllib_iam.training.ppo_config` wires them into a `PPOConfig`.
`LeanEnvRunner` (`sampling`), `ArrayZeroPad` (`padding`) and the learner's fused gradient
check are faster pieces with the same numbers as RLlib's (`ppo_config(stock_pieces=True)` runs
RLlib's own instead); `tune` holds the trial restoring and logging the grid needs;
`modules` the models' flat train-mode switch.

This package is the only one that touches names RLlib, Tune or torch keep private; they are
listed, file by file and with the reason for each, in docs/internals.md. Those are what a new
Ray release breaks, so importing this package checks the Ray version first: another version
is refused with the pin to install (``RLLIB_IAM_ANY_RAY=1`` tries it anyway, with a warning).
"""

import os
import warnings

import ray

SUPPORTED_RAY = "2.60.0"
"""The Ray release whose private names this package uses (requirements.txt pins it)."""


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


check_ray_version()  # before the submodules, which a different Ray may fail to import

from rllib_iam.ppo import quiet  # noqa: E402

quiet.install()  # RLlib's and Tune's known noise, in every process that trains or builds

from rllib_iam.ppo.gae import (  # noqa: E402
    GAE_PHASE_KEY,
    FragmentPhase,
    TruncatedGAE,
    truncated_gae,
)
from rllib_iam.ppo.learner import (  # noqa: E402
    ADAM_EPS,
    ADAM_FUSED,
    CLIP_PARAM_SCHEDULE,
    FAST_PIECES,
    GAE_HORIZON,
    NORMALIZE_ADVANTAGES,
    VF_CLIP,
    PaperPPOTorchLearner,
)

__all__ = [
    "ADAM_EPS",
    "ADAM_FUSED",
    "CLIP_PARAM_SCHEDULE",
    "FAST_PIECES",
    "GAE_HORIZON",
    "GAE_PHASE_KEY",
    "NORMALIZE_ADVANTAGES",
    "SUPPORTED_RAY",
    "VF_CLIP",
    "FragmentPhase",
    "PaperPPOTorchLearner",
    "TruncatedGAE",
    "check_ray_version",
    "truncated_gae",
]
