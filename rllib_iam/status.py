"""Where a grid stands, from its files alone: `figure5.py --status` (docs/long-runs.md).

For every trial folder of one experiment, or of every experiment in a storage folder: the
transitions done of its budget, its last checkpoint (the iteration it holds and how old it is),
its mean rate so far and the time left at that rate, and what ``--resume`` would do with it.
Nothing is started or written; Ray is not imported.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from rllib_iam.schema import FIGURE5, TRANSITIONS
from rllib_iam.storage import Storage


@dataclass(frozen=True)
class TrialStatus:
    """One trial folder's state."""

    experiment: str
    trial: str
    done: int
    """transitions of the last reported iteration"""
    budget: int | None
    """the trial's ``timesteps`` (None where params.json is unreadable)"""
    iteration: int
    seconds: float
    """the trial's training time so far (Tune's ``time_total_s``)"""
    finished: bool
    """Tune marked the last result done (the budget stopped it)"""
    checkpoint: str | None
    checkpoint_iteration: int | None
    checkpoint_age_s: float | None
    failed: bool
    """Tune wrote an error file (the last failure; a retry may have run since)"""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else math.nan

    @property
    def eta_s(self) -> float:
        if self.budget is None or not self.rate > 0:
            return math.nan
        return max(0, self.budget - self.done) / self.rate

    def resume_action(self) -> str:
        """What ``--resume`` does with this trial."""
        if self.finished:
            return "nothing (finished)"
        if self.checkpoint is None:
            return "starts it over (no checkpoint)"
        lost = self.iteration - (self.checkpoint_iteration or 0)
        return (f"continues from {self.checkpoint} (iteration {self.checkpoint_iteration}; "
                f"{lost} later iteration{'s' if lost != 1 else ''} run again)")


def _results(folder: Path) -> list[dict]:
    path = folder / "result.json"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut by a stop
            continue
    return rows


def trial_status(folder: Path, now: float | None = None) -> TrialStatus:
    """The status of one Tune trial folder."""
    now = time.time() if now is None else now
    rows = _results(folder)
    last = rows[-1] if rows else {}
    try:
        budget = int(json.loads((folder / "params.json").read_text())["timesteps"])
    except (OSError, ValueError, KeyError, TypeError):
        budget = None
    checkpoints = sorted(folder.glob("checkpoint_*"), key=lambda p: p.stat().st_mtime)
    checkpoint = checkpoints[-1] if checkpoints else None
    checkpoint_iteration = age = None
    if checkpoint is not None:
        saved = checkpoint.stat().st_mtime
        age = now - saved
        # the last iteration reported before the checkpoint was written (Tune truncates its
        # timestamps to the second; iterations shorter than that may be ambiguous)
        before = [r for r in rows if r.get("timestamp", math.inf) <= saved]
        checkpoint_iteration = int(before[-1]["training_iteration"]) if before else 0
    return TrialStatus(
        experiment=folder.parent.name,
        trial=folder.name,
        done=int((last.get(FIGURE5) or {}).get(TRANSITIONS, 0)),
        budget=budget,
        iteration=int(last.get("training_iteration", 0)),
        seconds=float(last.get("time_total_s", 0.0)),
        finished=bool(last.get("done")),
        checkpoint=checkpoint.name if checkpoint is not None else None,
        checkpoint_iteration=checkpoint_iteration,
        checkpoint_age_s=age,
        failed=(folder / "error.txt").exists(),
    )


def _is_trial(folder: Path) -> bool:
    return folder.is_dir() and ((folder / "params.json").exists()
                                or (folder / "result.json").exists())


def experiment_folders(storage: str, name: str | None) -> list[Path]:
    """The experiment `name` in `storage`, or every experiment there; ValueError when there is
    none."""
    if not Storage.parse(storage).is_local:
        raise ValueError("--status reads a local storage folder, not a URI")
    root = Path(storage).expanduser()
    if name is not None:
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"no experiment {name!r} in {storage}")
        return [folder]
    if not root.is_dir():
        raise ValueError(f"no storage folder {storage}")
    found = [f for f in sorted(root.iterdir())
             if f.is_dir() and any(_is_trial(t) for t in f.iterdir())]
    if not found:
        raise ValueError(f"no experiments in {storage}")
    return found


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(seconds)
    return (f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600
            else f"{seconds // 60}m{seconds % 60:02d}s")


def report(storage: str, name: str | None = None, now: float | None = None) -> str:
    """The status table of `storage` (one experiment where `name` is given)."""
    lines = ["| experiment | trial | transitions | of budget | rate (/s) | ETA | last checkpoint "
             "| its age | --resume |", "|---|---|---|---|---|---|---|---|---|"]
    for experiment in experiment_folders(storage, name):
        for folder in sorted(f for f in experiment.iterdir() if _is_trial(f)):
            s = trial_status(folder, now)
            share = f"{s.done / s.budget:.1%}" if s.budget else "-"
            rate = f"{s.rate:,.0f}" if math.isfinite(s.rate) else "-"
            state = s.resume_action() + ("; failed once (error.txt)" if s.failed else "")
            lines.append(
                f"| {s.experiment} | {s.trial} | {s.done:,} | {share} | {rate} | "
                f"{'-' if s.finished else _duration(s.eta_s)} | {s.checkpoint or '-'} | "
                f"{_duration(s.checkpoint_age_s)} | {state} |"
            )
    return "\n".join(lines)
