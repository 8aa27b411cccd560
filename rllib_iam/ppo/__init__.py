"""PPO as the reference ran it, on RLlib 2.60's new API stack.

`PaperPPOTorchLearner` (scheduled clip ε, PPO2 value clipping) and `TruncatedGAE` (GAE cut and
bootstrapped every few steps) replace the pieces of RLlib's PPO that cannot express the
reference's settings; `rllib_iam.training.ppo_config` wires them into a `PPOConfig`.
"""

from rllib_iam.ppo.gae import GAE_PHASE_KEY, FragmentPhase, TruncatedGAE, truncated_gae
from rllib_iam.ppo.learner import (
    ADAM_EPS,
    CLIP_PARAM_SCHEDULE,
    GAE_HORIZON,
    NORMALIZE_ADVANTAGES,
    VF_CLIP,
    PaperPPOTorchLearner,
)

__all__ = [
    "ADAM_EPS",
    "CLIP_PARAM_SCHEDULE",
    "GAE_HORIZON",
    "GAE_PHASE_KEY",
    "NORMALIZE_ADVANTAGES",
    "VF_CLIP",
    "FragmentPhase",
    "PaperPPOTorchLearner",
    "TruncatedGAE",
    "truncated_gae",
]
