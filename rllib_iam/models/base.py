"""What every model of the zoo shares: config checks, the two heads and the recurrent state.

A model is a *trunk* (observation sequence and state in, features and next state out) plus a
policy head and a value head. `ZooModule` owns everything else once, so that each model file
only says how to build its trunk:

- config: per-environment defaults merged with user keys, unknown keys refused, `param_budget`
  solved by scaling the model's hidden widths;
- `shared_trunk=False`: a second copy of the trunk for the critic (the seed reproduction's setup);
- state plumbing: `get_initial_state`, `STATE_IN`/`STATE_OUT`, `(B, T, ...)` and `(B, ...)`
  batches, a missing `STATE_IN` read as the start of an episode;
- images: a ``(k, 84, 84)`` uint8 observation goes through the Nature-DQN CNN first, and the
  model's trunk reads the flattened 7x7x64 map (`ImageTrunk`), unless the model builds its own
  image trunk (`build_image_trunk`, e.g. `iam_attention`).

Padding: RLlib cuts episodes into chunks of at most `max_seq_len` steps and zero-pads each chunk
at its tail, so a sequence never crosses an episode boundary and padding only follows real steps.
The recurrent branch runs through the padding (outputs at real steps are unaffected) and the
loss mask drops the padded steps; `STATE_OUT` of `forward_train` is never read by RLlib.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from rllib_iam import WAREHOUSE_ID
from rllib_iam.envs.registry import find

State = dict[str, Any]
"""A trunk's recurrent state: ``{"h": (B, H)}`` or ``{"h", "c"}``; nested per trunk if unshared."""

COMMON_DEFAULTS: dict[str, Any] = {
    "env_id": WAREHOUSE_ID,
    "shared_trunk": True,
    "param_budget": None,
    "max_seq_len": 8,
}
"""Keys every model accepts. `max_seq_len` is read by RLlib's connectors (BPTT length)."""

IGNORED_KEYS = ("vf_share_layers",)
"""Keys RLlib's PPOConfig/APPOConfig merge into every model_config; `shared_trunk` decides here."""

BUDGET_TOLERANCE = 0.02


class FNN(nn.Sequential):
    """Dense layers without bias, each followed by ReLU: the paper's hidden layers."""

    def __init__(self, in_size: int, hiddens: list[int]) -> None:
        layers: list[nn.Module] = []
        for width in hiddens:
            layers += [nn.Linear(in_size, width, bias=False), nn.ReLU()]
            in_size = width
        super().__init__(*layers)
        self.out_size = in_size

    def reset_parameters(self) -> None:
        """Orthogonal with gain sqrt(2), the usual choice ahead of a ReLU."""
        for layer in self:
            if isinstance(layer, nn.Linear):
                nn.init.orthogonal_(layer.weight, math.sqrt(2))


class NatureCNN(nn.Sequential):
    """The Nature-DQN convolutions (32x8x8/4, 64x4x4/2, 64x3x3/1, ReLU): k x 84 x 84 -> 64 x 7 x 7.

    Reads uint8 pixels and scales them to [0, 1].
    """

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
        )
        self.map_shape = (64, 7, 7)
        self.out_size = 64 * 7 * 7

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames``: (..., k, 84, 84) -> maps (..., 64, 7, 7)."""
        lead = frames.shape[:-3]
        maps = super().forward(frames.reshape(-1, *frames.shape[-3:]).float() / 255.0)
        return maps.reshape(*lead, *self.map_shape)

    def reset_parameters(self) -> None:
        """Orthogonal with gain sqrt(2), zero biases."""
        for layer in self:
            if isinstance(layer, nn.Conv2d):
                nn.init.orthogonal_(layer.weight, math.sqrt(2))
                nn.init.zeros_(layer.bias)


class Trunk(nn.Module):
    """Maps observations (B, T, obs) and a state to features (B, T, out_size) and a state.

    Feedforward trunks keep the empty state and work on any leading dimensions.
    """

    out_size: int

    def initial_state(self) -> dict[str, np.ndarray]:
        return {}

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        raise NotImplementedError


class ImageTrunk(Trunk):
    """The CNN, then any vector trunk over the flattened map (its state is the inner trunk's)."""

    def __init__(self, cnn: NatureCNN, inner: Trunk) -> None:
        super().__init__()
        self.cnn = cnn
        self.inner = inner
        self.out_size = inner.out_size

    def initial_state(self) -> dict[str, np.ndarray]:
        return self.inner.initial_state()

    def forward(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self.inner(self.cnn(obs).flatten(-3), state)


class Memory(Trunk):
    """One LSTM or GRU layer whose state is a dict of ``(B, H)`` tensors, as RLlib stores it.

    torch's cells carry two bias vectors where the paper's TensorFlow cells carry one: an LSTM
    here has 4H (GRU: 3H) more parameters than the reference, the same function class.
    """

    def __init__(self, in_size: int, hidden_size: int, cell: str) -> None:
        super().__init__()
        self.is_lstm = cell == "lstm"
        self.rnn = (nn.LSTM if self.is_lstm else nn.GRU)(in_size, hidden_size, batch_first=True)
        self.out_size = hidden_size

    def initial_state(self) -> dict[str, np.ndarray]:
        zeros = np.zeros(self.out_size, np.float32)
        return {"h": zeros, "c": zeros.copy()} if self.is_lstm else {"h": zeros}

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """``x``: (B, T, in_size) -> outputs (B, T, H) and the state after the last step."""
        if x.shape[1] == 1:
            return self._single_step(x, state)
        if self.is_lstm:
            y, (h, c) = self.rnn(x, (state["h"].unsqueeze(0), state["c"].unsqueeze(0)))
            return y, {"h": h[0], "c": c[0]}
        y, h = self.rnn(x, state["h"].unsqueeze(0))
        return y, {"h": h[0]}

    def _single_step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One step through torch's fused cell, with the same weights and the same numbers.

        The env runner asks for one step at a time; at B=8 `nn.LSTM`'s sequence path costs
        about three times the fused cell (see docs/models.md).
        """
        rnn = self.rnn
        weights = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
        if self.is_lstm:
            h, c = torch.lstm_cell(x[:, 0], (state["h"], state["c"]), *weights)
            return h.unsqueeze(1), {"h": h, "c": c}
        h = torch.gru_cell(x[:, 0], state["h"], *weights)
        return h.unsqueeze(1), {"h": h}


class ZooModule(TorchRLModule, ValueFunctionAPI):
    """Base RLModule: a trunk (or one per role), a policy head and a value head.

    Subclasses set `NAME`, `DEFAULTS` (per environment id; an env's `EnvSpec.model_sizes` gives
    sizes for the models without its id here), `WIDTHS` (the keys `param_budget` scales),
    optionally `ENV_CONFIG` (and `ENV_CONFIG_BY_ENV` where one env differs), and implement
    `build_trunk`.

    Heads: policy logits linear without bias, orthogonal init with gain 0.01; value linear with
    bias, orthogonal gain 1, bias 0. Hidden dense layers: orthogonal gain sqrt(2). RNNs: torch's
    default init.
    """

    NAME: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, dict[str, Any]]]
    WIDTHS: ClassVar[tuple[str, ...]]
    ENV_CONFIG: ClassVar[dict[str, Any]] = {}
    ENV_CONFIG_BY_ENV: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def env_config(cls, env_id: str) -> dict[str, Any]:
        """Env options this model needs on `env_id` (e.g. frame stacking)."""
        spec = find(env_id)
        return {**cls.ENV_CONFIG, **cls.ENV_CONFIG_BY_ENV.get(spec.id if spec else env_id, {})}

    @classmethod
    def sizes_for(cls, env_id: str) -> dict[str, Any] | None:
        """This model's default sizes on `env_id`: its `DEFAULTS`, else the env spec's
        `model_sizes`; None where neither has any."""
        spec = find(env_id)
        if spec is None:
            return cls.DEFAULTS.get(env_id)
        if spec.id in cls.DEFAULTS:
            return cls.DEFAULTS[spec.id]
        return spec.model_sizes.get(cls.NAME)

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

    # ----------------------------------------------------------------- config
    @classmethod
    def resolve_config(
        cls,
        model_config: dict[str, Any] | None,
        observation_space: gym.Space,
        action_space: gym.Space,
    ) -> dict[str, Any]:
        """Defaults for the config's environment, user keys over them, budget solved."""
        config = {k: v for k, v in dict(model_config or {}).items() if k not in IGNORED_KEYS}
        env_id = config.get("env_id", COMMON_DEFAULTS["env_id"])
        sizes = cls.sizes_for(env_id)
        if sizes is None:
            raise ValueError(
                f"model {cls.NAME!r} has no default sizes for env {env_id!r}; "
                f"known: {', '.join(cls.DEFAULTS)}"
            )
        defaults = {**COMMON_DEFAULTS, **sizes}
        unknown = sorted(set(config) - set(defaults))
        if unknown:
            raise ValueError(
                f"unknown model_config key(s) {', '.join(unknown)} for model {cls.NAME!r}; "
                f"valid: {', '.join(sorted(defaults))}"
            )
        config = {**defaults, **config}
        _check_common(config)
        for key in cls.WIDTHS:
            config[key] = check_width(key, config[key])
        obs_size, n_actions = space_sizes(observation_space, action_space)
        if config["param_budget"] is not None:
            return cls._fit_budget(config, obs_size, n_actions)
        cls.count_for(config, obs_size, n_actions)  # a dry build: a bad d-set fails here, early
        return config

    @classmethod
    def count_for(
        cls, config: dict[str, Any], obs_size: int | tuple[int, int, int], n_actions: int
    ) -> int:
        """Parameter count of the module a resolved config builds, without allocating it."""
        with torch.device("meta"):
            trunk = cls.make_trunk(obs_size, config)
        copies = 1 if config["shared_trunk"] else 2
        trunk_params = sum(p.numel() for p in trunk.parameters())
        return copies * trunk_params + trunk.out_size * (n_actions + 1) + 1

    @classmethod
    def _fit_budget(cls, config: dict[str, Any], obs_size: Any, n_actions: int) -> dict[str, Any]:
        """Scale every width in `WIDTHS` by one factor until the count is near the budget."""
        target = config["param_budget"]

        def scaled(factor: float) -> dict[str, Any]:
            return {**config, **{k: _scale(config[k], factor) for k in cls.WIDTHS}}

        def miss(cfg: dict[str, Any]) -> float:
            return abs(cls.count_for(cfg, obs_size, n_actions) - target) / target

        if miss(config) <= BUDGET_TOLERANCE:
            return config
        lo, hi = 1e-3, 1e3
        for _ in range(50):
            mid = math.sqrt(lo * hi)
            if cls.count_for(scaled(mid), obs_size, n_actions) < target:
                lo = mid
            else:
                hi = mid
        best = min((scaled(lo), scaled(hi)), key=miss)
        if miss(best) > BUDGET_TOLERANCE:
            got = cls.count_for(best, obs_size, n_actions)
            raise ValueError(
                f"param_budget {target} cannot be met within 2% by model {cls.NAME!r} "
                f"(closest: {got} parameters)"
            )
        return best

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
        self._all_modules = tuple(self.modules())

    def train(self, mode: bool = True) -> ZooModule:
        """nn.Module.train without its recursive walk over submodules.

        RLlib's `forward_inference`/`forward_exploration` switch to eval mode and back around
        every env-runner call; torch's walk costs more than a B=8 forward pass of `fnn`. The
        module tree is fixed after `setup`, so one flat loop over it has the same effect.
        """
        modules = self.__dict__.get("_all_modules")
        if modules is None:  # still inside setup
            return super().train(mode)
        for module in modules:
            object.__setattr__(module, "training", mode)
        return self

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


def space_sizes(
    observation_space: gym.Space, action_space: gym.Space
) -> tuple[int | tuple[int, int, int], int]:
    """The observation's size (an int; ``(k, 84, 84)`` for images) and the number of actions."""
    shape = getattr(observation_space, "shape", None)
    image = shape is not None and len(shape) == 3 and tuple(shape[1:]) == (84, 84)
    if not isinstance(observation_space, gym.spaces.Box) or not (len(shape) == 1 or image):
        raise ValueError(
            "the model zoo needs a 1-D Box or (k, 84, 84) image observation, "
            f"got {observation_space}"
        )
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"the model zoo needs a Discrete action space, got {action_space}")
    size = tuple(int(n) for n in shape) if image else int(shape[0])
    return size, int(action_space.n)


def _check_common(config: dict[str, Any]) -> None:
    if not isinstance(config["shared_trunk"], bool):
        raise ValueError(f"shared_trunk must be True or False, got {config['shared_trunk']!r}")
    if not _positive_int(config["max_seq_len"]):
        raise ValueError(f"max_seq_len must be an integer >= 1, got {config['max_seq_len']!r}")
    budget = config["param_budget"]
    if budget is not None and not _positive_int(budget):
        raise ValueError(f"param_budget must be None or an integer >= 1, got {budget!r}")


def check_width(key: str, value: Any) -> int | list[int]:
    """A width config value as an int or a list of ints, or a ValueError naming the key."""
    if _positive_int(value):
        return int(value)
    if isinstance(value, (list, tuple)) and value and all(_positive_int(v) for v in value):
        return [int(v) for v in value]
    raise ValueError(f"{key} must be a positive integer or a non-empty list of them, got {value!r}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _scale(width: int | list[int], factor: float) -> int | list[int]:
    if isinstance(width, list):
        return [max(1, round(w * factor)) for w in width]
    return max(1, round(width * factor))
