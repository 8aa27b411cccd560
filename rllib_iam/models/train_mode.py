"""`FlatTrainMode`: torch's train/eval switch without its recursive walk, for the zoo's modules.

RLlib's `forward_inference`/`forward_exploration` switch a module to eval mode and back around
every env-runner call; torch's `nn.Module.train` walks the module tree recursively, which costs
more than a B=8 forward pass of `fnn`. A zoo module's tree is fixed once `setup` has built it,
so one flat loop over the modules it lists sets the same ``training`` flags. Setting them goes
through `object.__setattr__` (past `nn.Module.__setattr__`'s bookkeeping, which a bool does not
need): torch's internals, hence a file of the fence (docs/internals.md) that only torch names cross.
"""

from __future__ import annotations

from typing import Any

FLAT_TRAIN = "flat_train_mode"
"""Model-config key: False keeps torch's own recursive `train` (`ppo_config(stock_pieces=True)`
sets it); default True."""


class FlatTrainMode:
    """Mixin for an `nn.Module` (an RLModule): `train(mode)` as one loop over the modules
    `freeze_module_list` recorded, torch's own `train` before that or where the model config
    says ``flat_train_mode: False``."""

    def freeze_module_list(self) -> None:
        """Records the module tree (call at the end of `setup`, once it is built)."""
        config = getattr(self, "model_config", None) or {}
        if config.get(FLAT_TRAIN, True):
            self._all_modules = tuple(self.modules())

    def train(self, mode: bool = True) -> Any:
        modules = self.__dict__.get("_all_modules")
        if modules is None:  # still inside setup, or torch's own walk asked for
            return super().train(mode)
        for module in modules:
            object.__setattr__(module, "training", mode)
        return self

