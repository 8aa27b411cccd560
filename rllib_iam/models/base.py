"""What every model of the zoo shares: config checks, the two heads and the recurrent state.

A model is a *trunk* (observation sequence and state in, features and next state out) plus a
policy head and a value head. `ZooModule` owns everything else once, so that each model file
only says how to build its trunk:

- config: per-environment defaults merged with user keys, unknown keys refused, `param_budget`
  solved by scaling the model's hidden widths (`ModelSizing`, `rllib_iam.models.sizing`);
- `shared_trunk=False`: a second copy of the trunk for the critic (the seed reproduction's setup);
- state plumbing: `get_initial_state`, `STATE_IN`/`STATE_OUT`, `(B, T, ...)` and `(B, ...)`
  batches, a missing `STATE_IN` read as the start of an episode;
- train/eval: one flat loop over the fixed module tree (`FlatTrainMode`,
  `rllib_iam.models.train_mode`);
- images: a ``(k, 84, 84)`` uint8 observation goes through the Nature-DQN CNN first, and the
  model's trunk reads the flattened 7x7x64 map (`ImageTrunk`), unless the model builds its own
  image trunk (`build_image_trunk`, e.g. `iam_attention`).

The layers (`FNN`, `NatureCNN`, `Memory`, the trunks) are in `rllib_iam.models.layers`.

Padding: RLlib cuts episodes into chunks of at most `max_seq_len` steps and zero-pads each chunk
at its tail, so a sequence never crosses an episode boundary and padding only follows real steps.
The recurrent branch runs through the padding (outputs at real steps are unaffected) and the
loss mask drops the padded steps; `STATE_OUT` of `forward_train` is never read by RLlib.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from rllib_iam.models.layers import FNN, ImageTrunk, NatureCNN, State, Trunk
from rllib_iam.models.sizing import ModelSizing, space_sizes
from rllib_iam.models.train_mode import FlatTrainMode


class ZooModule(ModelSizing, FlatTrainMode, TorchRLModule, ValueFunctionAPI):
    """Base RLModule: a trunk (or one per role), a policy head and a value head.

    Subclasses set `NAME`, `DEFAULTS` (per environment id; an env's `EnvSpec.model_sizes` gives
    sizes for the models without its id here), `WIDTHS` (the keys `param_budget` scales),
    optionally `ENV_CONFIG` (and `ENV_CONFIG_BY_ENV` where one env differs), and implement
    `build_trunk`.

    Heads: policy logits linear without bias, orthogonal init with gain 0.01; value linear with
    bias, orthogonal gain 1, bias 0. Hidden dense layers: orthogonal gain sqrt(2). RNNs: torch's
    default init.
    """

    @classmethod
    def build_trunk(cls, obs_size: int, config: dict[str, Any]) -> Trunk:
        """The one thing a model file must say: its trunk for a resolved config."""
        raise NotImplementedError

    @classmethod
    def build_image_trunk(cls, shape: tuple[int, int, int], config: dict[str, Any]) -> Trunk:
        """For ``(k, 84, 84)`` images: the Nature CNN, then `build_trunk` over its 3136 outputs."""
        cnn = NatureCNN(shape[0])
        return ImageTrunk(cnn, cls.build_trunk(cnn.out_size, config))

    @classmethod
    def make_trunk(cls, obs: int | tuple[int, int, int], config: dict[str, Any]) -> Trunk:
        """`build_trunk` for a vector observation of size `obs`, `build_image_trunk` for images."""
        if isinstance(obs, tuple):
            return cls.build_image_trunk(obs, config)
        return cls.build_trunk(obs, config)

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        obs_size, n_actions = space_sizes(self.observation_space, self.action_space)
        self.model_config = self.resolve_config(
            self.model_config, self.observation_space, self.action_space
        )
        config = self.model_config
        self.trunk = self.make_trunk(obs_size, config)
        self.critic_trunk = None if config["shared_trunk"] else self.make_trunk(obs_size, config)
        self._obs_dims = len(self.observation_space.shape)
        self.policy_head = nn.Linear(self.trunk.out_size, n_actions, bias=False)
        self.value_head = nn.Linear(self.trunk.out_size, 1)
        self._stateful = bool(self.trunk.initial_state())
        self._reset_parameters()
        self.freeze_module_list()  # train/eval as one flat loop from here on

    def _reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (FNN, NatureCNN)):
                module.reset_parameters()
        nn.init.orthogonal_(self.policy_head.weight, 0.01)
        nn.init.orthogonal_(self.value_head.weight, 1.0)
        nn.init.zeros_(self.value_head.bias)

    def get_initial_state(self) -> State:
        if self.critic_trunk is None or not self._stateful:
            return self.trunk.initial_state()
        return {"actor": self.trunk.initial_state(), "critic": self.critic_trunk.initial_state()}

    # ---------------------------------------------------------------- forward
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out, _ = self._actor_forward(batch)
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        out, features = self._actor_forward(batch)
        if self.critic_trunk is not None and not self._stateful:
            features, _ = self._run(self.critic_trunk, batch, "critic")
        out[Columns.EMBEDDINGS] = features
        return out

    def compute_values(
        self, batch: dict[str, Any], embeddings: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Values (B, T) or (B,); reuses `forward_train`'s embeddings when given."""
        if embeddings is None:
            trunk = self.trunk if self.critic_trunk is None else self.critic_trunk
            embeddings, _ = self._run(trunk, batch, "critic")
        return self.value_head(embeddings).squeeze(-1)

    def _actor_forward(self, batch: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
        """Policy logits and next state; also the critic's features when a recurrent critic
        trunk has to advance its own state anyway."""
        features, state = self._run(self.trunk, batch, "actor")
        out = {Columns.ACTION_DIST_INPUTS: self.policy_head(features)}
        if not self._stateful:
            return out, features
        if self.critic_trunk is not None:
            critic_features, critic_state = self._run(self.critic_trunk, batch, "critic")
            state = {"actor": state, "critic": critic_state}
            features = critic_features
        out[Columns.STATE_OUT] = state
        return out, features

    def _run(self, trunk: Trunk, batch: dict[str, Any], role: str) -> tuple[torch.Tensor, State]:
        """Run one trunk, giving recurrent trunks a time axis and a state when they lack one."""
        obs = batch[Columns.OBS]
        if not self._stateful:
            return trunk(obs, {})
        state = batch.get(Columns.STATE_IN)
        if state is None:
            state = {
                k: torch.zeros(len(obs), *v.shape, device=obs.device)  # obs may be uint8
                for k, v in trunk.initial_state().items()
            }
        elif self.critic_trunk is not None:
            state = state[role]
        if obs.dim() == self._obs_dims + 1:
            features, state = trunk(obs.unsqueeze(1), state)
            return features.squeeze(1), state
        return trunk(obs, state)
