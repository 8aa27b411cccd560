"""Zero-padding episode chunks into `max_seq_len` sequences on whole arrays.

For recurrent modules RLlib's learner pipeline (`AddTimeDimToBatchAndZeroPad`) cuts every
column of every episode chunk into `max_seq_len`-step pieces, zero-padding the last, with
`split_and_zero_pad`: a Python loop that re-batches the pieces item by item. For `lstm` at
64 envs x 16 steps that is about a tenth of an update. `split_and_zero_pad_arrays` gives the
same pieces (same values, shapes and dtypes) from one concatenation and one reshape, and falls
back to RLlib's function for anything but flat (non-nested) items. `ArrayZeroPad` is RLlib's
connector with that function on its learner side; `PaperPPOTorchLearner` puts it in place of
the stock one (tests/test_ppo.py compares the two pipelines' batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.connectors.common.add_time_dim_to_batch_and_zero_pad import (
    AddTimeDimToBatchAndZeroPad,
)
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.utils.postprocessing.zero_padding import (
    BatchedNdArray,
    create_mask_and_seq_lens,
    split_and_zero_pad,
)
from ray.rllib.utils.spaces.space_utils import batch as stack_items


def split_and_zero_pad_arrays(items: list[Any], max_seq_len: int) -> list[np.ndarray]:
    """RLlib's `split_and_zero_pad(items, max_seq_len)`, on arrays where the items are flat.

    `items` is one episode chunk's column: `BatchedNdArray` pieces, or individual per-step
    items (arrays or scalars). Returns ``ceil(n / max_seq_len)`` arrays of `max_seq_len` rows,
    the last zero-padded.
    """
    if not items:
        return split_and_zero_pad(items, max_seq_len)
    if all(type(x) is BatchedNdArray for x in items):
        data = items[0] if len(items) == 1 else np.concatenate(items)
        zero = np.zeros_like([items[0][0]])
    elif any(isinstance(x, (BatchedNdArray, dict, list, tuple)) for x in items):
        return split_and_zero_pad(items, max_seq_len)
    else:
        data = stack_items(items)
        zero = np.zeros_like(items[0])
    data = np.asarray(data)
    if np.result_type(data, zero) != data.dtype:  # RLlib's padded piece would differ in dtype
        return split_and_zero_pad(items, max_seq_len)
    n = len(data)
    pieces = -(-n // max_seq_len)
    out = np.zeros((pieces * max_seq_len, *data.shape[1:]), dtype=data.dtype)
    out[:n] = data
    return list(out.reshape(pieces, max_seq_len, *data.shape[1:]))


def split_and_zero_pad_episodes(
    array: np.ndarray, episode_lens: list[int], max_seq_len: int
) -> list[np.ndarray]:
    """RLlib's `split_and_zero_pad_n_episodes`: one flat array cut at episode ends, padded."""
    out: list[np.ndarray] = []
    start = 0
    for n in episode_lens:
        out += split_and_zero_pad_arrays([BatchedNdArray(array[start : start + n])], max_seq_len)
        start += n
    return out


class ArrayZeroPad(AddTimeDimToBatchAndZeroPad):
    """`AddTimeDimToBatchAndZeroPad` whose learner side pads with `split_and_zero_pad_arrays`.

    The env-runner side is RLlib's. The learner side does what RLlib's does: pad every column
    of every stateful module's episode chunk (infos excepted), then add each chunk's sequence
    lengths and, unless an earlier connector did, its loss mask.
    """

    def __call__(
        self,
        *,
        rl_module: Any,
        batch: dict[str, Any],
        episodes: list[Any],
        explore: bool | None = None,
        shared_data: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        if (
            not self._as_learner_connector
            or rl_module is None
            or not rl_module.is_stateful()
            or Columns.STATE_IN in batch
        ):
            return super().__call__(
                rl_module=rl_module,
                batch=batch,
                episodes=episodes,
                explore=explore,
                shared_data=shared_data,
                **kwargs,
            )
        for column, per_chunk in batch.items():
            if column == Columns.INFOS:
                continue
            for key, items in per_chunk.items():
                module_id = key[2] if len(key) == 3 else None
                if module_id is not None and not rl_module[module_id].is_stateful():
                    continue
                per_chunk[key] = split_and_zero_pad_arrays(
                    items, self._get_max_seq_len(rl_module, module_id=module_id)
                )
                padded = module_id if module_id is not None else DEFAULT_MODULE_ID
                shared_data[f"_zero_padded_for_mid={padded}"] = True

        for episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            if episode.module_id is not None:
                module = rl_module[episode.module_id]
            elif isinstance(rl_module, MultiRLModule):
                module = rl_module[DEFAULT_MODULE_ID]
            else:
                module = rl_module
            if not module.is_stateful():
                continue
            max_seq_len = module.model_config["max_seq_len"]
            mask, seq_lens = create_mask_and_seq_lens(len(episode), max_seq_len)
            self.add_n_batch_items(
                batch=batch,
                column=Columns.SEQ_LENS,
                items_to_add=seq_lens,
                num_items=len(seq_lens),
                single_agent_episode=episode,
            )
            if not shared_data.get("_added_loss_mask_for_valid_episode_ts"):
                self.add_n_batch_items(
                    batch=batch,
                    column=Columns.LOSS_MASK,
                    items_to_add=mask,
                    num_items=len(mask),
                    single_agent_episode=episode,
                )
        return batch
