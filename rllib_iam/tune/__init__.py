"""Tune's side of a grid, where it reaches past Tune's public API: restoring trials from intact
checkpoints and keeping their logs (`trials`), and the wandb actor (`wandb_log`).

Part of the fence around private names (docs/internals.md), with `rllib_iam.ppo` and
`rllib_iam.models.train_mode`; importing it checks the Ray version as `rllib_iam.ppo` does
(`rllib_iam.ray_version`). The trackers and the console progress, which use Tune's public API
only, are `rllib_iam.tracking`.
"""

from rllib_iam.ray_version import check_ray_version

check_ray_version()
