"""The old home of the wandb logger, now `rllib_iam.tune.wandb_log`.

An experiment started with ``--track wandb`` before it moved (2026-12) keeps the callback
pickled under this module's path in its ``tuner.pkl``; `Tuner.restore` (``--resume``) finds it
here. Importing it imports wandb.
"""

from rllib_iam.tune.wandb_log import WandbLog

__all__ = ["WandbLog"]
