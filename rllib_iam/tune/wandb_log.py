"""Tune's wandb logger, waiting for each run's data to be written before Tune ends the run.

Tune logs every trial from a Ray actor and kills the actor as soon as ``wandb.finish()``
returns; but ``finish`` returns before wandb's service process (``wandb-core``) has written the
end of the run's ``.wandb`` file, and killing the actor kills that process with it. With
wandb 0.31 and Ray 2.60 an offline run then lost its last 32 KiB block: a two-iteration smoke
trial kept its config but none of its history. ``wandb.teardown()`` waits for the service to
finish; it is in a module of its own because importing it imports wandb.
"""

from __future__ import annotations

from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor


class _WrittenWandbRun(_WandbLoggingActor):
    """Tune's per-trial wandb actor, returning only once wandb has written the run."""

    def run(self) -> None:
        super().run()
        self._wandb.teardown()


class WandbLog(WandbLoggerCallback):
    """`WandbLoggerCallback` whose trial actors wait for wandb to write each run."""

    _logger_actor_cls = _WrittenWandbRun
