"""PPO as the reference ran it, on RLlib 2.60's new API stack, and the pieces of RLlib it
replaces: the main part of the fence around RLlib's, Tune's and torch's private names.

`PaperPPOTorchLearner` (scheduled clip ε, PPO2 value clipping) and `TruncatedGAE` (GAE cut and
bootstrapped every few steps) replace the pieces of RLlib's PPO that cannot express the
reference's settings; `rllib_iam.training.ppo_config` wires them into a `PPOConfig`.
`LeanEnvRunner` (`sampling`), `ArrayZeroPad` (`padding`) and the learner's fused gradient
check are faster pieces with the same numbers as RLlib's (`ppo_config(stock_pieces=True)` runs
RLlib's own instead).

The fence is this package, `rllib_iam.tune` and `rllib_iam.models.train_mode`: the only places
that use names RLlib, Tune or torch keep private; they are listed, file by
file and with the reason for each, in docs/internals.md. Those are what a new Ray release
breaks, so importing this package checks the Ray version first
(`rllib_iam.ray_version.check_ray_version`).
"""

from rllib_iam.ray_version import SUPPORTED_RAY, check_ray_version

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
