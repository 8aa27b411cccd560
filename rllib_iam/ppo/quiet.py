"""RLlib's and Tune's known noise, filtered from every process that imports the package.

Two log lines come from Ray itself, in every trial, with nothing a user can do about them:
RLlib 2.60 builds a deprecated `RLModuleConfig` inside every `RLModule` it constructs (and
warns about its own call), and Tune's resource monitor asks for the optional ``gputil``
package even on machines without a GPU. `install` drops exactly those two messages from the
two loggers that write them; everything else those loggers say (other deprecations included)
still prints. Importing `rllib_iam.ppo` installs it: every process that builds a trial, a
learner or an env runner imports it (the grid's trial class and the training config do), the
driver included; a zoo module built on its own (`rllib_iam.models.build_module`) does not.
The logger names are Ray's module paths, one of them private, hence this file's place in the
fence (docs/internals.md).
"""

from __future__ import annotations

import logging

KNOWN_NOISE: dict[str, tuple[str, ...]] = {
    "ray._common.deprecation": ("`RLModule(config=[RLModuleConfig object])` has been deprecated",),
    "ray.tune.utils.util": ("Install gputil for GPU system monitoring",),
}
"""Logger name -> the message fragments dropped from it."""


class DropKnownNoise(logging.Filter):
    """Drops records whose message contains one of `fragments`."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def install() -> None:
    """Adds the filters (once per logger, however often it is called)."""
    for name, fragments in KNOWN_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropKnownNoise) for f in logger.filters):
            logger.addFilter(DropKnownNoise(fragments))
