"""The result schema the grid writes and the analysis reads, defined once.

Each training iteration's result carries a record under `FIGURE5` (`rllib_iam.grid` writes it);
`analysis.load` turns a trial's records into one tidy row per iteration. Trials are named
`trial_name(model, seed)`, which `TRIAL_NAME` parses back. This module imports nothing of Ray,
so the analysis can read results without it.
"""

from __future__ import annotations

import re
from typing import Any

FIGURE5 = "figure5"
"""Result key under which each iteration's Figure 5 record is logged."""
TRANSITIONS = "transitions"
REFERENCE_STEPS = "reference_steps"
REFERENCE_ENVS = 8
"""The reference's parallel envs (every task): Figure 5's x axis counts one step of all 8 as
one step, so reference steps = transitions / 8 (docs/spec/paper.md); `PaperPPO.num_envs`."""
RETURN = "episode_return_mean"
RETURN_LATEST = "episode_return_latest"
"""The latest finite `RETURN`: an iteration in which no episode ended (fragments shorter than
an episode) has a NaN return; this key keeps the one before, for ASHA to compare."""
WALL_TIME = "wall_time_s"
TRANSITIONS_PER_S = "transitions_per_s"
PARAMS = "params"

DIAGNOSTICS: dict[str, str] = {
    "entropy": "entropy",
    "vf_explained_var": "vf_explained_var",
    "vf_loss": "vf_loss",
    "policy_loss": "policy_loss",
    "clip_fraction": "clip_fraction",
    "kl": "mean_kl_loss",
    "lr": "default_optimizer_learning_rate",
    "clip_param": "curr_clip_param",
}
"""The learner diagnostics each iteration's record carries (name -> RLlib's key under
``learners/<module>``); a key the learner does not log (e.g. ``clip_fraction`` with
``--ppo rllib``) is NaN. Losses, entropy, KL and clip fraction are means over the update's
last SGD step's minibatch (RLlib's window 1), lr and ε the values after the update."""
DIAGNOSTICS_PREFIX = "learners/default_policy"
"""Where the `DIAGNOSTICS` keys sit in a flattened result (``result.json``, ``progress.csv``) of
a single-module run: RLlib's ``LEARNER_RESULTS`` (``learners``), then the module's id."""

LEGACY_DECAY_OVER = "budget"
"""What a trial config without ``decay_over`` decayed its lr and ε over: grids started before
the field existed (2026-12) ended their decays at their own budget."""

OLDER_TRIAL_DEFAULTS: dict[str, Any] = {
    "env": "rllib_iam/Warehouse-v0",
    "ppo": "paper",
    "ppo_config": {},
    "decay_over": LEGACY_DECAY_OVER,
    "model_config": {},
    "num_env_runners": 0,
}
"""What a stored trial config (``params.json``, Tune's trial config) without one of these keys
ran with: the grids written before the key existed. The one place the defaults of older trials
are kept; the resume path (`rllib_iam.trial.TrialSpec.from_config`, `rllib_iam.gridspec`) and
the analysis's labels (`analysis.load.ppo_label`) read them through `trial_config`."""


def trial_config(config: dict[str, Any]) -> dict[str, Any]:
    """A stored trial config with `OLDER_TRIAL_DEFAULTS` for the keys it lacks (or holds as
    None); its own keys as they are."""
    return {**OLDER_TRIAL_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}

TRIAL_NAME = re.compile(r"^(?P<model>.+)_seed(?P<seed>\d+)$")
"""A trial folder's name, `trial_name`'s output: the model's label and the seed."""


def trial_name(model: str, seed: int) -> str:
    """The name (and folder) of the grid's trial of `model` with `seed`: ``iam_seed3``."""
    return f"{model}_seed{seed}"
