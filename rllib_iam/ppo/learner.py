"""The reference's PPO loss on RLlib's torch PPO learner.

RLlib's `PPOTorchLearner` differs from the reference (OpenAI-baselines PPO2 style, as the
authors' TF1 code ran it) in four ways this learner changes:

- the clip ε is a constant there; here it follows a schedule (`[[timestep, value], ...]`,
  linear in between, like RLlib's `lr` schedule), decayed from 0.1 to ~0 over the run;
- RLlib clamps the *value loss* at `vf_clip_param`; here the *value prediction* is clipped
  around the pre-update prediction with the same ε, and the larger of the clipped and unclipped
  squared errors is taken: `max((V - R)^2, (V_old + clip(V - V_old, -ε, ε) - R)^2)`. As in the
  reference there is no 0.5 factor (baselines' PPO2 has `0.5 * max(...)` with `vf_coef=0.5`);
  with `vf_loss_coeff=1.0` the value term weighs what it did in the reference;
- GAE is `TruncatedGAE` (cut every `gae_horizon` steps, optional advantage standardisation)
  in place of RLlib's `GeneralAdvantageEstimation` (whole chunks, always standardised);
- an update takes `num_epochs * transitions / minibatch_size` SGD steps (the reference's
  3 x 4 = 12), the count RLlib itself uses when it shards an update over several learners. A
  single RLlib learner instead cycles until every row was seen `num_epochs` times, and its batch
  also holds one artificial row per episode chunk, so it would take 13.

For ablations against other PPOs (docs/ppo.md) the value loss form (`VF_CLIP`: PPO2's max, the
clipped error alone as SB3 has it, or none) and Adam's ε (`ADAM_EPS`) can be changed; their
defaults are the reference's.

Settings come from `config.learner_config_dict` (keys below) so that the config survives
RLlib's and Tune's dict round trips; the other PPO settings are RLlib's own
(`entropy_coeff`, `vf_loss_coeff`, `lr`, `grad_clip`, `use_kl_loss`, ...).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
    PPOConfig,
)
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.common.add_time_dim_to_batch_and_zero_pad import (
    AddTimeDimToBatchAndZeroPad,
)
from ray.rllib.connectors.learner import GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.lambda_defaultdict import LambdaDefaultDict
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.rllib.utils.schedules.scheduler import Scheduler
from ray.rllib.utils.torch_utils import explained_variance
from ray.rllib.utils.typing import ModuleID, TensorType

from rllib_iam.ppo.gae import TruncatedGAE
from rllib_iam.ppo.minibatches import RECORD_ATTR, lean_update, lean_update_applies
from rllib_iam.ppo.padding import ArrayZeroPad

GAE_HORIZON = "gae_horizon"
"""`learner_config_dict` key: GAE slice length in steps (int), or None for plain GAE."""
NORMALIZE_ADVANTAGES = "normalize_advantages"
"""`learner_config_dict` key: standardise advantages per train batch (bool, default False)."""
CLIP_PARAM_SCHEDULE = "clip_param_schedule"
"""`learner_config_dict` key: ε schedule `[[0, ε0], [t, ε], ...]`; None keeps `clip_param`."""
VF_CLIP = "vf_clip"
"""`learner_config_dict` key: value loss form, ``"max"`` (PPO2, the default), ``"clamp"`` (the
clipped prediction's error alone, SB3's) or ``"none"`` (plain squared error)."""
ADAM_EPS = "adam_eps"
"""`learner_config_dict` key: Adam's ε (default torch's and TF's 1e-8)."""
ADAM_FUSED = "adam_fused"
"""`learner_config_dict` key: True builds torch's fused Adam (default False: the per-tensor
loop RLlib's default builds; the two round differently)."""
FAST_PIECES = "fast_pieces"
"""`learner_config_dict` key: False runs RLlib's own padding connector and `apply_gradients`
(`rllib_iam.training.ppo_config(stock_pieces=True)`); default the class's `FAST`."""

LEARNER_RESULTS_CURR_CLIP_PARAM_KEY = "curr_clip_param"
LEARNER_RESULTS_CLIP_FRACTION_KEY = "clip_fraction"


def categorical_logp_entropy(
    logits: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`TorchCategorical.from_logits(logits)`'s `logp(actions)` and `entropy()`, by the same
    tensor operations as `torch.distributions.Categorical` (normalised logits, softmax,
    gather; entropy over logits clamped at the dtype's minimum), so the same numbers and
    gradients to the bit, without building the two distribution objects per SGD step."""
    normalized = logits - logits.logsumexp(dim=-1, keepdim=True)
    index = actions.long().unsqueeze(-1)
    index, log_pmf = torch.broadcast_tensors(index, normalized)
    logp = log_pmf.gather(-1, index[..., :1]).squeeze(-1)
    probs = torch.softmax(normalized, dim=-1)
    clamped = torch.clamp(normalized, min=torch.finfo(normalized.dtype).min)
    entropy = -(clamped * probs).sum(-1)
    return logp, entropy


def clip_param_or_schedule(config: PPOConfig) -> float | list:
    """The clip ε setting a config gives this learner: its schedule if set, else `clip_param`."""
    schedule = config.learner_config_dict.get(CLIP_PARAM_SCHEDULE)
    if schedule is None:
        return config.clip_param
    Scheduler.validate(
        fixed_value_or_schedule=schedule, setting_name=CLIP_PARAM_SCHEDULE, description="clip ε"
    )
    return schedule


class PaperPPOTorchLearner(PPOTorchLearner):
    """PPO2-style loss with a scheduled clip ε and truncated GAE (see the module docstring).

    Two pieces only make it faster, with the same numbers as RLlib's (tests/test_ppo.py trains
    with and without them and compares the weights bit for bit): the BPTT zero-padding on whole
    arrays (`ArrayZeroPad`) and one fused finiteness check of the gradients per SGD step in
    place of RLlib's two per parameter tensor. `FAST = False`, or `FAST_PIECES` False in
    `learner_config_dict`, keeps RLlib's own.
    """

    FAST: bool = True

    @property
    def fast(self) -> bool:
        return bool(self.config.learner_config_dict.get(FAST_PIECES, self.FAST))

    def build(self) -> None:
        super().build()
        self.clip_param_schedulers_per_module: dict[ModuleID, Scheduler] = LambdaDefaultDict(
            lambda module_id: Scheduler(
                fixed_value_or_schedule=clip_param_or_schedule(
                    self.config.get_config_for_module(module_id)
                ),
                framework=self.framework,
                device=self._device,
            )
        )
        if (
            self._learner_connector is not None
            and self.config.add_default_connectors_to_learner_pipeline
        ):
            settings = self.config.learner_config_dict
            self._learner_connector.insert_before(
                GeneralAdvantageEstimation,
                TruncatedGAE(
                    gamma=self.config.gamma,
                    lambda_=self.config.lambda_,
                    horizon=settings.get(GAE_HORIZON),
                    normalize_advantages=bool(settings.get(NORMALIZE_ADVANTAGES, False)),
                ),
            )
            self._learner_connector.remove(GeneralAdvantageEstimation)
            if self.fast:  # the same padding on whole arrays (rllib_iam.ppo.padding)
                self._learner_connector.insert_before(
                    AddTimeDimToBatchAndZeroPad, ArrayZeroPad(as_learner_connector=True)
                )
                self._learner_connector.remove(AddTimeDimToBatchAndZeroPad)

    def configure_optimizers_for_module(self, module_id: ModuleID, config: Any = None) -> None:
        """RLlib's one Adam per module under its lr schedule, with Adam's ε and its fused
        kernel from `learner_config_dict` (RLlib's default builds `torch.optim.Adam(params)`:
        ε 1e-8, the per-tensor loop)."""
        params = self.get_parameters(self._module[module_id])
        settings = self.config.learner_config_dict
        eps = float(settings.get(ADAM_EPS, 1e-8))
        fused = {"fused": True} if settings.get(ADAM_FUSED, False) else {}
        self.register_optimizer(
            module_id=module_id,
            optimizer=torch.optim.Adam(params, eps=eps, **fused),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    def apply_gradients(self, gradients_dict: dict[str, Any]) -> None:
        """RLlib's `apply_gradients` where it may find a non-finite gradient or has more to do
        (grad scalers, torch lr schedulers, `torch_skip_nan_gradients`); otherwise its path for
        all-finite gradients (set them, step every optimizer) after one fused check. RLlib tests
        each parameter tensor twice, each a host sync: 36 of them per SGD step for `iam`."""
        grads = [g for g in gradients_dict.values() if g is not None]
        simple = (
            self.fast
            and grads
            and self._grad_scalers is None
            and self._lr_scheduler_classes is None
            and not self.config.torch_skip_nan_gradients
            and len(grads) == len(gradients_dict)
        )
        # the total norm is finite only if every element of every gradient is (an overflow to
        # inf of finite gradients just takes RLlib's exact path)
        if not simple or not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            super().apply_gradients(gradients_dict)
            return
        for pid, grad in gradients_dict.items():
            self._params[pid].grad = grad
        for module_id, optimizer_names in self._module_optimizers.items():
            for optimizer_name in optimizer_names:
                self.get_optimizer(module_id, optimizer_name).step()

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """RLlib's update, with the number of SGD steps fixed from the real transitions; the
        fast pieces run it as `rllib_iam.ppo.minibatches.lean_update` (the same SGD steps on
        the same rows, without RLlib's per-minibatch batch objects and bookkeeping)."""
        if not kwargs.get("num_total_minibatches") and kwargs.get("minibatch_size"):
            episodes = kwargs.get("episodes") or getattr(
                kwargs.get("training_data"), "episodes", None
            )
            if episodes:
                transitions = sum(len(e) for e in episodes)
                kwargs["num_total_minibatches"] = max(
                    1, int(kwargs.get("num_epochs", 1) * transitions / kwargs["minibatch_size"])
                )
        if self.fast and not args and lean_update_applies(self, kwargs):
            return lean_update(self, **kwargs)
        return super().update(*args, **kwargs)

    def remove_module(self, module_id: ModuleID, **kwargs: Any) -> Any:
        spec = super().remove_module(module_id, **kwargs)
        self.clip_param_schedulers_per_module.pop(module_id, None)
        return spec

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        """Advance the clip ε schedule on the same clock as RLlib's lr and entropy schedules."""
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id in self.module._rl_modules:
            new_clip = self.clip_param_schedulers_per_module[module_id].update(
                timestep=timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)
            )
            self.metrics.log_value(
                (module_id, LEARNER_RESULTS_CURR_CLIP_PARAM_KEY), new_clip, window=1
            )

    def compute_loss_for_module(
        self,
        *,
        module_id: ModuleID,
        config: PPOConfig,
        batch: dict[str, Any],
        fwd_out: dict[str, TensorType],
    ) -> TensorType:
        module = self.module[module_id].unwrapped()
        if Columns.LOSS_MASK in batch:
            mask = batch[Columns.LOSS_MASK]
            num_valid = torch.sum(mask)

            def masked_mean(x: torch.Tensor) -> torch.Tensor:
                return torch.sum(x[mask]) / num_valid

        else:
            mask = None
            masked_mean = torch.mean

        clip = self.clip_param_schedulers_per_module[module_id].get_current_value()
        clip = torch.as_tensor(clip, dtype=torch.float32, device=batch[Columns.ACTIONS].device)

        dist_cls = module.get_train_action_dist_cls()
        logits = fwd_out[Columns.ACTION_DIST_INPUTS]
        if self.fast and dist_cls is TorchCategorical:
            logp, entropy = categorical_logp_entropy(logits, batch[Columns.ACTIONS])
        else:
            dist = dist_cls.from_logits(logits)
            logp, entropy = dist.logp(batch[Columns.ACTIONS]), dist.entropy()
        ratio = torch.exp(logp - batch[Columns.ACTION_LOGP])
        advantages = batch[Postprocessing.ADVANTAGES]
        surrogate = torch.min(
            advantages * ratio, advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
        )

        if config.use_kl_loss:
            old_dist = module.get_exploration_action_dist_cls().from_logits(
                batch[Columns.ACTION_DIST_INPUTS]
            )
            mean_kl = masked_mean(old_dist.kl(dist))
        else:
            mean_kl = torch.zeros((), device=ratio.device)

        values = module.compute_values(batch, embeddings=fwd_out.get(Columns.EMBEDDINGS))
        targets = batch[Postprocessing.VALUE_TARGETS]
        old_values = batch[Columns.VF_PREDS]
        clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
        vf_loss_unclipped = torch.pow(values - targets, 2.0)
        vf_clip = config.learner_config_dict.get(VF_CLIP, "max")
        if vf_clip == "max":
            vf_loss = torch.max(vf_loss_unclipped, torch.pow(clipped_values - targets, 2.0))
        elif vf_clip == "clamp":
            vf_loss = torch.pow(clipped_values - targets, 2.0)
        elif vf_clip == "none":
            vf_loss = vf_loss_unclipped
        else:
            raise ValueError(f"{VF_CLIP} must be max, clamp or none, got {vf_clip!r}")

        total_loss = masked_mean(
            -surrogate
            + config.vf_loss_coeff * vf_loss
            - self.entropy_coeff_schedulers_per_module[module_id].get_current_value() * entropy
        )
        if config.use_kl_loss:
            total_loss = total_loss + self.curr_kl_coeffs_per_module[module_id] * mean_kl

        if not getattr(self, RECORD_ATTR, True):  # a later minibatch's values replace these
            return total_loss
        valid = (lambda x: x[mask]) if mask is not None else (lambda x: x)
        self.metrics.log_dict(
            {
                POLICY_LOSS_KEY: -masked_mean(surrogate),
                VF_LOSS_KEY: masked_mean(vf_loss),
                LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY: masked_mean(vf_loss_unclipped),
                LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY: explained_variance(
                    valid(targets), valid(values)
                ),
                ENTROPY_KEY: masked_mean(entropy),
                LEARNER_RESULTS_KL_KEY: mean_kl,
                LEARNER_RESULTS_CLIP_FRACTION_KEY: masked_mean(
                    ((ratio - 1.0).abs() > clip).float()
                ),
            },
            key=module_id,
            window=1,
        )
        return total_loss
