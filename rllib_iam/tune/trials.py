"""Tune's trial restoring and logging, where the grid reaches past Tune's public API.

Three things the grid needs that Tune 2.60 has no public hook for (docs/internals.md lists
every private name the project uses, and why):

- `IntactRestore`: a trial restored from a damaged checkpoint (a full disk, a copy cut off on
  its way to cloud storage) falls back to the newest intact older one, and the trial's time
  total (`Trainable._time_total`) is set back to that iteration's logged value.
- `JsonLog` and `CsvLog`: Tune's loggers, keeping the driver's copy of a trial's log on a
  retry (`LoggerCallback._restore_from_remote`).
- `restore_tuner`: `Tuner.restore` with the callbacks of this run in place of the stored
  ones (`Tuner._local_tuner`).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from typing import Any

from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.result import TIME_TOTAL_S

CHECKPOINT_PARTS = ("rllib_checkpoint.json", "algorithm_state.pkl", "learner_group")
"""What an RLlib 2.60 algorithm checkpoint folder holds at its top level."""


def checkpoint_damage(folder: Path) -> str | None:
    """Why an RLlib checkpoint folder cannot be restored (missing or unreadable parts), or None.

    Tune registers a checkpoint only once it is written, but a disk that filled up, a copy cut
    off on its way to cloud storage or a hand-edited folder leave half-written ones; unpickling
    each part up front finds them before any state is half loaded."""
    try:
        json.loads((folder / CHECKPOINT_PARTS[0]).read_text())
    except (OSError, ValueError):
        return f"no readable {CHECKPOINT_PARTS[0]}"
    for needed in CHECKPOINT_PARTS[1:]:
        if not (folder / needed).exists():
            return f"{needed} missing"
    for part in sorted(folder.rglob("*.pkl")):
        try:
            with part.open("rb") as f:
                pickle.load(f)
        except Exception as err:  # any failure to unpickle means damage
            return f"{part.relative_to(folder)} unreadable ({type(err).__name__}: {err})"
    return None


def _say(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


class IntactRestore:
    """Mixin for an RLlib `Algorithm` run as a Tune trial: restoring (Tune's retry of a failed
    trial, or ``--resume``) checks the checkpoint first; a damaged one is reported and the
    newest intact older checkpoint of the trial is used instead, or, with none left, the trial
    starts again from its first iteration. Iterations logged again replace the earlier records
    in the analysis, so none is counted twice."""

    def restore(self, checkpoint_path: Any) -> None:
        """Tune's restore of a trial (its retry, or ``--resume``), from the newest intact
        checkpoint of the trial; a plain path or `Checkpoint` (RLlib's own use) as it is."""
        checkpoint = getattr(checkpoint_path, "checkpoint", None)
        if checkpoint is None:  # a plain path or Checkpoint: RLlib's own use, left as it is
            return super().restore(checkpoint_path)
        import pyarrow.fs
        from ray.tune import Checkpoint

        fs, newest = checkpoint.filesystem, checkpoint.path.rstrip("/")
        trial_dir, name = newest.rsplit("/", 1)
        siblings = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
        older = sorted((e.path for e in siblings if e.base_name.startswith("checkpoint_")
                        and e.base_name < name), reverse=True)
        trial = trial_dir.rsplit("/", 1)[-1]
        for path in [newest, *older]:
            candidate = Checkpoint(path, filesystem=fs)
            with candidate.as_directory() as local:
                damage = checkpoint_damage(Path(local))
            if damage is None and path == newest:
                return super().restore(checkpoint_path)
            if damage is None:
                super().restore(candidate)
                self._time_total = _logged_time(fs, trial_dir, self.iteration)
                _say(f"{trial}: restored from {path.rsplit('/', 1)[-1]} (iteration "
                     f"{self.iteration}); iterations after it run again")
                return None
            _say(f"{trial}: {path.rsplit('/', 1)[-1]} is damaged ({damage})")
        _say(f"{trial}: no intact checkpoint; the trial starts again from its first iteration")
        return None


def _logged_time(fs, trial_dir: str, iteration: int) -> float:
    """The trial's logged total time at ``iteration`` (0 when the log does not say)."""
    try:
        with fs.open_input_stream(f"{trial_dir}/result.json", compression=None) as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0.0
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("training_iteration") == iteration:
            return float(record.get(TIME_TOTAL_S) or 0.0)
    return 0.0


class _KeepDriverLog:
    """Keeps the driver's own copy of a trial's log when Tune retries the trial.

    On a retry, Tune's loggers copy the trial's log back from the storage path over the driver's
    copy. The storage copy is only as new as the last (throttled, asynchronous) experiment sync,
    so the results logged since then were lost: a trial retried after iteration 2's checkpoint
    could keep iterations 1, 3, 4. The driver's copy is never older than the storage's, so it
    is kept when present; a new driver (`--resume`) has none and gets the storage copy as before.
    Iterations logged after the checkpoint a retry restarts from appear twice, as after
    `--resume`; `analysis.load` keeps the later ones.
    """

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if not Path(trial.local_path, file_name).exists():
            super()._restore_from_remote(file_name, trial)


class JsonLog(_KeepDriverLog, JsonLoggerCallback):
    """Tune's `result.json` logger, keeping the driver's copy on a retry."""


class CsvLog(_KeepDriverLog, CSVLoggerCallback):
    """Tune's `progress.csv` logger, keeping the driver's copy on a retry."""


def restore_tuner(path: str, trainable: Any, callbacks: list):
    """`Tuner.restore` of the experiment at ``path``, unfinished and errored trials resumed,
    with ``callbacks`` in place of those it was started with: Tune restores the stored
    `RunConfig`, so a ``--track`` given with ``--resume`` would otherwise be ignored (and one
    given only at the start would stay on)."""
    from ray import tune

    tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                               resume_errored=True)
    # Tune has no public setter for a restored run's callbacks
    tuner._local_tuner.get_run_config().callbacks = callbacks
    return tuner
