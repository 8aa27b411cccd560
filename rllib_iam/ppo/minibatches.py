"""`lean_update`: RLlib's `Learner.update` for this project's PPO, minibatches taken by index.

RLlib 2.60's update builds every minibatch as a new `MultiAgentBatch`: `MiniBatchCyclicIterator`
slices `SampleBatch` objects (a tree walk per slice), concatenates the pieces
(`concat_samples`, another walk) and shuffles by copying every column at each epoch's end;
around each SGD step it then logs a dozen metrics (steps trained, off-policyness, the loss's
seven statistics, the gradient norm), each a `MetricsLogger.log_value` with its key lookups.
With the `tuned` PPO (160 SGD steps of 64 rows per 1,024 transitions) that bookkeeping took
longer than the SGD itself (docs/throughput.md).

`lean_update` does the same work with the batch left where the learner connector built it:

- the row order comes from the same calls to `np.random.permutation` at the same points as the
  stock iterator's `SampleBatch.shuffle` (so the global numpy stream advances as before), kept
  as an index array; each minibatch is one `index_select` per column;
- every SGD step is RLlib's own: `forward_train`, `compute_losses`, `compute_gradients`,
  `postprocess_gradients`, `apply_gradients`;
- metrics RLlib logs with ``window=1`` (only the last minibatch's value survives the reduce:
  the loss statistics, off-policyness, the gradient norm) are logged for the last minibatch
  only; the summed ones (steps trained) once per update with their totals.

The weights after an update are those of RLlib's loop to the last bit
(tests/test_ppo.py::test_the_fast_pieces_train_to_rllibs_weights_bit_for_bit). Anything this
does not cover (several learners, data iterators, `torch.compile`, a batch RLlib hands in
already built) goes to RLlib's own `update`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.core import ALL_MODULES
from ray.rllib.core.learner.training_data import TrainingData
from ray.rllib.policy.sample_batch import SampleBatch
from ray.rllib.utils.metrics import (
    MODULE_TRAIN_BATCH_SIZE_MEAN,
    NUM_ENV_STEPS_TRAINED,
    NUM_MODULE_STEPS_TRAINED,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    WEIGHTS_SEQ_NO,
)

RECORD_ATTR = "_record_minibatch_metrics"
"""Learner attribute: False while a minibatch's ``window=1`` metrics would be overwritten by a
later minibatch's (the loss reads it to skip its statistics)."""


def lean_update_applies(learner: Any, kwargs: dict[str, Any]) -> bool:
    """Whether `lean_update` reproduces RLlib's update for this call exactly."""
    config = learner.config
    return (
        kwargs.get("minibatch_size") is not None
        and not kwargs.get("data_iterators")
        and not kwargs.get("batches")
        and learner.iterator is None
        and config.num_learners <= 1
        and not config.torch_compile_learner
        and learner._grad_scalers is None
    )


def _plan(sizes: dict[str, tuple[int, int]], num_epochs: int, num_total: int,
          shuffle: bool) -> list[dict[str, np.ndarray]]:
    """Row (or sequence) indices of every minibatch, per module, as `MiniBatchCyclicIterator`
    takes them: `sizes` maps a module to (units in its batch, units per minibatch)."""
    order = {mid: np.arange(units) for mid, (units, _) in sizes.items()}
    start = dict.fromkeys(sizes, 0)
    epochs = dict.fromkeys(sizes, 0)
    plan = []
    while (num_total == 0 and min(epochs.values()) < num_epochs) or (
        num_total > 0 and len(plan) < num_total
    ):
        minibatch = {}
        for mid, (units, per_minibatch) in sizes.items():
            s, n, pieces = start[mid], per_minibatch, []
            while s + n >= units:
                pieces.append(order[mid][s:])
                n -= units - s
                s = 0
                epochs[mid] += 1
                if shuffle:  # SampleBatch.shuffle: the rows permuted by the global stream
                    order[mid] = order[mid][np.random.permutation(units)]
            if n > 0:
                pieces.append(order[mid][s:s + n])
            minibatch[mid] = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
            start[mid] = s + n
        plan.append(minibatch)
    return plan


def _columns(batch: SampleBatch) -> dict[str, Any]:
    """The batch's tensor columns (nested dicts kept), without `SampleBatch`'s wrapping."""
    return {k: v for k, v in batch.items() if isinstance(v, (torch.Tensor, dict))}


def _take(x: Any, index: torch.Tensor) -> Any:
    if isinstance(x, dict):
        return {k: _take(v, index) for k, v in x.items()}
    return x.index_select(0, index)


def lean_update(
    learner: Any,
    *,
    timesteps: dict[str, Any] | None = None,
    num_total_minibatches: int = 0,
    num_epochs: int = 1,
    minibatch_size: int,
    shuffle_batch_per_epoch: bool = False,
    _no_metrics_reduce: bool = False,
    **data: Any,
) -> Any:
    """`Learner.update` for one learner over an in-memory batch (module docstring)."""
    timesteps = timesteps or {}
    learner._check_is_built()
    learner.before_gradient_based_update(timesteps=timesteps)
    training_data = data.pop("training_data", None) or TrainingData(
        **{k: data.pop(k) for k in ("batch", "batch_refs", "episodes", "episodes_refs")
           if k in data}
    )
    training_data.validate()
    training_data.solve_refs()
    learner._weights_seq_no += 1
    batch = learner._make_batch_if_necessary(training_data=training_data)
    for module_id in list(batch.policy_batches):
        if not learner.should_module_be_updated(module_id, batch):
            del batch.policy_batches[module_id]
    if not batch.policy_batches:
        return None if _no_metrics_reduce else learner.metrics.reduce()
    unknown = set(batch.policy_batches) - set(learner.module.keys())
    if unknown:
        raise ValueError(f"Batch contains one or more ModuleIDs ({unknown}) that are not in "
                         "this Learner!")
    learner._set_slicing_by_batch_id(batch, value=True)
    sizes, columns = {}, {}
    for mid, module_batch in batch.policy_batches.items():
        if len(module_batch) == 0:
            raise ValueError(f"The batch for module_id {mid} is empty!")
        if module_batch._slice_seq_lens_in_B:  # whole sequences, as the stock iterator
            units = len(module_batch[SampleBatch.SEQ_LENS])
            per = int(units * (minibatch_size / len(module_batch)))
        else:
            units, per = len(module_batch), minibatch_size
        sizes[mid] = (units, per)
        columns[mid] = _columns(module_batch)
    plan = _plan(sizes, num_epochs, num_total_minibatches,
                 shuffle_batch_per_epoch and num_epochs > 1)

    trained = dict.fromkeys(sizes, 0)
    loss_per_module: dict[str, Any] = {}
    try:
        for k, indices in enumerate(plan):
            last = k == len(plan) - 1
            setattr(learner, RECORD_ATTR, last)
            minibatch = {}
            for mid, index in indices.items():
                minibatch[mid] = _take(columns[mid], torch.from_numpy(index))
                rows = len(index) if not batch.policy_batches[mid]._slice_seq_lens_in_B else (
                    int(minibatch[mid][SampleBatch.SEQ_LENS].sum()))
                trained[mid] += rows
            if last:
                learner._compute_off_policyness(minibatch)
            fwd_out = learner.module.forward_train(minibatch)
            loss_per_module = learner.compute_losses(fwd_out=fwd_out, batch=minibatch)
            gradients = learner.compute_gradients(loss_per_module)
            learner.apply_gradients(learner.postprocess_gradients(gradients))
    finally:
        setattr(learner, RECORD_ATTR, True)

    _log_steps_trained(learner, trained, len(plan), batch.count)
    for mid, loss in loss_per_module.items():
        learner.metrics.log_value(key=(mid, learner.TOTAL_LOSS_KEY), value=loss, window=1)
    learner.after_gradient_based_update(timesteps=timesteps)
    if not _no_metrics_reduce:
        return learner.metrics.reduce()
    return None


def _log_steps_trained(learner: Any, trained: dict[str, int], minibatches: int,
                       count: int) -> None:
    """What `Learner._log_metrics` and `_log_steps_trained_metrics` log per minibatch, as one
    entry per update: sums as their totals, the batch-size mean as the mean of the sizes.
    `trained`: rows trained per module over the update; `count`: the whole batch's count,
    which is what every stock minibatch reports as its env steps."""
    total, env_steps = sum(trained.values()), count * minibatches
    if env_steps > 0:
        learner._metrics_all_modules_num_env_steps_trained.inc(value=env_steps)
        learner._metrics_all_modules_num_module_steps_trained.inc(value=total)
    metrics = learner.metrics
    for mid, steps in trained.items():
        metrics.log_value((mid, WEIGHTS_SEQ_NO), learner._weights_seq_no, window=1)
        metrics.log_value((mid, MODULE_TRAIN_BATCH_SIZE_MEAN), steps / minibatches,
                          reduce="mean")
        metrics.log_value((mid, NUM_MODULE_STEPS_TRAINED), steps, reduce="sum")
        metrics.log_value((mid, NUM_MODULE_STEPS_TRAINED_LIFETIME), steps,
                          reduce="lifetime_sum", with_throughput=True)
    metrics.log_value((ALL_MODULES, NUM_MODULE_STEPS_TRAINED), total, reduce="sum",
                      with_throughput=True)
    metrics.log_value((ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME), total,
                      reduce="lifetime_sum", with_throughput=True)
    metrics.log_value((ALL_MODULES, NUM_ENV_STEPS_TRAINED), env_steps,
                      reduce="sum", with_throughput=True)
