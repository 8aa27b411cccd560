"""What a Tune run reports beyond its own folder: experiment trackers and console progress.

`tracking_callbacks` turns ``--track wandb,mlflow`` into Tune's `WandbLoggerCallback` (as
`rllib_iam.tune.wandb_log.WandbLog`) and `MLflowLoggerCallback`, both writing locally unless
the user's environment says otherwise (``WANDB_MODE``, ``MLFLOW_TRACKING_URI``); `Progress`
prints each trial's share of its transition budget and an ETA on the console. TensorBoard
needs nothing here: Tune writes its event files into every trial folder.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.tune import Callback
from ray.tune.result import TIME_TOTAL_S

from rllib_iam.storage import Storage

TRACKERS: dict[str, str] = {"wandb": "wandb", "mlflow": "mlflow"}
"""``--track`` choices -> the package each needs (the ``track`` extra installs both)."""
WANDB_MODE = "WANDB_MODE"
"""wandb's own variable: ``offline`` (the default here), ``online`` or ``disabled``."""
WANDB_DIR = "WANDB_DIR"
"""wandb's own variable; unset, a local storage path's runs go to ``<storage>/<name>/wandb``
(a cloud one's to each trial's folder, uploaded with it)."""
MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
"""MLflow's own variable; unset, the runs go to a SQLite file beside the experiments."""
MLFLOW_DB = "mlflow.db"
"""The MLflow store under the storage path, one for all experiments. SQLite, as MLflow's
default: its folder-of-files store (``mlruns``) is in maintenance mode and refused unless
``MLFLOW_ALLOW_FILE_STORE`` is set."""


def parse_trackers(values: Iterable[str] | None) -> tuple[str, ...]:
    """``--track`` values (each one name or a comma list) as known tracker names in the order
    first given; a `ValueError` names an unknown one or a missing package."""
    names: list[str] = []
    for value in values or ():
        for name in (part.strip() for part in value.split(",")):
            if name not in TRACKERS:
                raise ValueError(f"unknown --track {name!r}; valid: {', '.join(TRACKERS)}")
            if name not in names:
                names.append(name)
    for name in names:
        package = TRACKERS[name]
        if importlib.util.find_spec(package) is None:
            raise ValueError(f"--track {name} needs the {package} package, which is not "
                             f"installed: pip install -e '.[track]' (or pip install {package})")
    return tuple(names)


def mlflow_tracking_uri(storage_path: str) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the SQLite store ``<storage_path>/mlflow.db``
    (in the working folder when the storage is a cloud URI: SQLite needs a local file)."""
    if os.environ.get(MLFLOW_TRACKING_URI):
        return os.environ[MLFLOW_TRACKING_URI]
    base = Path(storage_path) if Storage.parse(storage_path).is_local else Path(".")
    return f"sqlite:///{(base / MLFLOW_DB).resolve()}"


def tracking_callbacks(trackers: Iterable[str], *, storage_path: str, name: str) -> list:
    """Tune callbacks logging every trial to the trackers named; the experiment ``name`` is
    the wandb project (trials grouped by it) and the MLflow experiment."""
    callbacks = []
    for tracker in trackers:
        if tracker == "wandb":
            from rllib_iam.tune.wandb_log import WandbLog

            # Tune checks the variable on the driver before looking for an API key; the
            # mode also goes to each trial's wandb.init, which runs in a Ray actor.
            mode = os.environ.setdefault(WANDB_MODE, "offline")
            init = {"mode": mode, "settings": {"quiet": True}, "reinit": "finish_previous"}
            if Storage.parse(storage_path).is_local and not os.environ.get(WANDB_DIR):
                init["dir"] = str(Path(storage_path, name).resolve())
            callbacks.append(WandbLog(project=name, **init))
        elif tracker == "mlflow":
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            uri = mlflow_tracking_uri(storage_path)
            if uri.startswith("sqlite:///"):  # SQLite creates the file, not its folder
                Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            callbacks.append(MLflowLoggerCallback(tracking_uri=uri, experiment_name=name))
        else:
            raise ValueError(f"unknown tracker {tracker!r}; valid: {', '.join(TRACKERS)}")
    return callbacks


def duration(seconds: float) -> str:
    """``2h05m``, ``7m30s`` or ``42s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(trial: str, transitions: int, budget: int, seconds: float) -> str:
    """One trial's progress: share of its transition budget, rate so far and time left at that
    rate (``done in ...`` once the budget is reached)."""
    share = 100 * transitions / budget if budget else float("nan")
    rate = transitions / seconds if seconds > 0 else float("nan")
    if transitions >= budget:
        when = f"done in {duration(seconds)}"
    elif math.isfinite(rate) and rate > 0:
        when = f"ETA {duration((budget - transitions) / rate)}"
    else:
        when = "ETA unknown"
    speed = f"{rate:,.0f}/s" if math.isfinite(rate) else "?/s"
    return (f"progress {trial}: {share:.1f}% of {budget:,} transitions ({transitions:,}), "
            f"{speed}, {when}")


class Progress(Callback):
    """Prints `progress_line` for a trial at its first result, then at most every ``every_s``
    seconds, and when it reaches its budget: a short run prints two lines per trial, a long
    one a line a minute per running trial. The budget is the trial config's ``timesteps``; a
    trial without one is not reported."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._printed: dict[str, float] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        budget = (trial.config or {}).get("timesteps")
        if not budget:
            return
        transitions = int((result.get(ENV_RUNNER_RESULTS) or {}).get(
            NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
        now = time.monotonic()
        last = self._printed.get(trial.trial_id)
        if last is not None and now - last < self.every_s and transitions < budget:
            return
        self._printed[trial.trial_id] = now
        seconds = float(result.get(TIME_TOTAL_S) or 0.0)
        print(progress_line(str(trial), transitions, int(budget), seconds), flush=True)
