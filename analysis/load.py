"""Every Tune trial under one or more results folders, as one tidy frame.

Tune cannot aggregate across seeds, so the analysis reads each trial's whole history itself: the
trial's config from ``params.json`` (model, seed, env, timesteps, ppo) and one record per training
iteration from ``result.json`` (or ``progress.csv`` when that is all there is). Damage costs only
the damaged part: each problem is one `AnalysisWarning` naming the trial, and `ResultsError` is
raised only when nothing usable is left.

Why not `tune.ExperimentAnalysis` / `ResultGrid.get_dataframe()`: they load an experiment only
through its Tune state (``experiment_state-*.json``), which a folder of exported trials, a copy
without checkpoints or a partly synced cloud folder may lack, and they fail or drop a trial
without saying which part was damaged; both need the driver's Ray version to unpickle the state.
Reading the two files Tune writes per trial works for all of those. Resuming uses Tune's own
`Tuner.can_restore` and `Tuner.restore` (`experiments/figure5.py`, `rllib_iam.grid`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rllib_iam.schema import (
    DIAGNOSTICS,
    DIAGNOSTICS_PREFIX,
    FIGURE5,
    PARAMS,
    REFERENCE_ENVS,
    REFERENCE_STEPS,
    RETURN,
    TRANSITIONS,
    TRANSITIONS_PER_S,
    TRIAL_NAME,
    WALL_TIME,
    trial_config,
)
from rllib_iam.storage import Storage

ENVS_PER_REFERENCE_STEP = REFERENCE_ENVS
"""The reference code counts one step of its 8 parallel envs as one step (paper.md)."""
FINAL_FRACTION = 0.1
"""A trial's final return is its mean over the last 10% of its budget of transitions."""
DEFAULT_ENV = "rllib_iam/Warehouse-v0"

COLUMNS: dict[str, tuple[str, ...]] = {
    "iteration": ("training_iteration",),
    TRANSITIONS: (f"{FIGURE5}/{TRANSITIONS}", "env_runners/num_env_steps_sampled_lifetime"),
    REFERENCE_STEPS: (f"{FIGURE5}/{REFERENCE_STEPS}",),
    RETURN: (f"{FIGURE5}/{RETURN}", "env_runners/episode_return_mean"),
    WALL_TIME: (f"{FIGURE5}/{WALL_TIME}", "time_total_s"),
    TRANSITIONS_PER_S: (f"{FIGURE5}/{TRANSITIONS_PER_S}",),
    PARAMS: (f"{FIGURE5}/{PARAMS}",),
    **{name: (f"{FIGURE5}/{name}", f"{DIAGNOSTICS_PREFIX}/{key}")
       for name, key in DIAGNOSTICS.items()},
}
"""Tidy column -> the result names it may come from, preferred first. Names are checked, never
positions: RLlib renames its metrics between versions, and the grid's own record comes first."""
REQUIRED = ("iteration", "transitions", "episode_return_mean")
DIAGNOSTIC_COLUMNS = tuple(DIAGNOSTICS)
"""The learner's diagnostics (rllib_iam.schema.DIAGNOSTICS): optional, NaN in trials and tidy
files from before they were logged."""
TRIAL_FILES = frozenset({"result.json", "progress.csv", "params.json"})
TUNE_STATE = re.compile(r"^(experiment_state-.*\.json|basic-variant-state-.*\.json|tuner\.pkl)$")
CONFIG_COLUMNS = ("trial", "model", "seed", "env", "ppo", "budget", "complete")
TIDY_COLUMNS = (*CONFIG_COLUMNS, *COLUMNS)
"""The tidy frame's columns, in order; also the header of an exported tidy file."""
TIDY_SUFFIXES = (".csv", ".csv.gz")
"""Exported tidy files (`analysis.export`): one trial per file, read like a trial folder."""


class ResultsError(ValueError):
    """Nothing usable in the folders given; the CLI prints it as one line and exits 2."""


class AnalysisWarning(UserWarning):
    """A problem with one trial; the analysis goes on without the damaged part."""


@contextlib.contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """The command lines' way with `AnalysisWarning`: each one raised inside is printed to
    stderr as one ``warning: ...`` line when the block ends (an error included)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnalysisWarning)
        try:
            yield
        finally:
            for w in caught:
                if w.category is AnalysisWarning:
                    print(f"warning: {w.message}", file=sys.stderr)


def _warn(trial: str, problem: str) -> None:
    warnings.warn(f"{trial}: {problem}", AnalysisWarning, stacklevel=3)


def _filesystem(run: str):
    """pyarrow's filesystem and path of `run` (`rllib_iam.storage.Storage`: a local folder or a
    URI of a scheme in its `SCHEMES`), or a `ResultsError` saying why not."""
    try:
        storage = Storage.parse(run, noun="URI")
    except ValueError as err:
        raise ResultsError(str(err)) from None
    if storage.is_local:
        return storage.filesystem()[0], str(Path(run).resolve())
    try:
        return storage.filesystem()
    except (OSError, ValueError) as err:
        raise ResultsError(f"cannot open {run}: {str(err).splitlines()[0]}") from None


def _listing(fs, folder: str) -> list:
    import pyarrow.fs

    return fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))


ERROR_FILES = frozenset({"error.txt", "error.pkl"})
"""What Tune leaves in a trial folder when the trial failed (the last failure)."""


def _is_trial(entries: list) -> bool:
    names = {e.base_name for e in entries}
    return bool(names & (TRIAL_FILES | ERROR_FILES)) or any(
        n.startswith("checkpoint_") for n in names)


def _error_line(fs, trial: str) -> str | None:
    """The last non-empty line of the trial's ``error.txt`` (the exception), or None."""
    text = _read(fs, f"{trial}/error.txt")
    if text is None:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "error.txt is empty"


def _failed_without_results(fs, trial: str, label: str) -> dict | None:
    """A trial that failed before its first result (``error.txt``, no result file): a warning
    and its record for the table's ``failed`` count; None for any other folder."""
    if _read(fs, f"{trial}/result.json") or _read(fs, f"{trial}/progress.csv"):
        return None
    error = _error_line(fs, trial)
    if error is None:
        return None
    text = _read(fs, f"{trial}/params.json")
    try:
        config = json.loads(text) if text else {}
    except json.JSONDecodeError:
        config = {}
    if not (isinstance(config, dict) and {"model", "seed"} <= set(config)):
        match = TRIAL_NAME.match(trial.rstrip("/").rsplit("/", 1)[-1])
        config = {"model": match["model"], "seed": int(match["seed"])} if match else None
    _warn(label, f"failed before its first result ({error}); counted as failed, no return")
    if config is None:
        return None
    return {"trial": label, "model": model_label(config), "seed": int(config["seed"]),
            "env": str(config.get("env", DEFAULT_ENV)), "ppo": ppo_label(config)}


def find_trials(fs, root: str, depth: int = 2) -> list[str]:
    """Trial folders at most ``depth`` levels below ``root`` (storage -> experiment -> trial).
    A trial folder holds Tune's files or checkpoints; an empty folder beside trials or Tune's
    experiment state is a trial that never wrote anything, and is reported."""
    import pyarrow.fs

    entries = _listing(fs, root)
    if _is_trial(entries):
        return [root]
    if depth == 0:
        return []
    folders = [e for e in entries
               if e.type == pyarrow.fs.FileType.Directory and not e.base_name.startswith(".")]
    listed = {f.path: _listing(fs, f.path) for f in folders}
    is_experiment = any(TUNE_STATE.match(e.base_name) for e in entries) or any(
        _is_trial(inner) for inner in listed.values())
    trials = []
    for folder in folders:
        if not listed[folder.path] and is_experiment:
            _warn(_label(folder.path), "empty trial folder (a trial that never started?); skipped")
        else:
            trials += find_trials(fs, folder.path, depth - 1)
    return trials


TIDY_NAME = re.compile(r"_seed\d+\.csv(\.gz)?$")
"""An exported trial's file name ends so (`analysis.export.file_name`); other CSVs beside them
(``table.csv``, ``improvement.csv``) are analysis outputs, not trials."""


def tidy_files(fs, folder: str, depth: int = 1) -> list[str]:
    """Exported tidy files inside ``folder`` or at most ``depth`` folders below it (a results
    folder holds its trials in ``trials/``)."""
    import pyarrow.fs

    entries = _listing(fs, folder)
    found = [e.path for e in entries
             if e.type == pyarrow.fs.FileType.File and TIDY_NAME.search(e.base_name)]
    if depth > 0:
        for e in entries:
            if e.type == pyarrow.fs.FileType.Directory and not e.base_name.startswith("."):
                found += tidy_files(fs, e.path, depth - 1)
    return sorted(found)


def load_tidy(fs, path: str, label: str) -> pd.DataFrame | None:
    """One exported trial (`analysis.export`), or None with a warning saying why."""
    name = path.rsplit("/", 1)[-1]
    try:
        with fs.open_input_stream(path, compression=None) as f:
            raw = f.read()
        frame = pd.read_csv(io.BytesIO(raw), compression="gzip" if name.endswith(".gz") else None)
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as err:
        _warn(label, f"unreadable tidy file ({str(err).splitlines()[0]}); skipped")
        return None
    for column in DIAGNOSTIC_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    missing = [c for c in TIDY_COLUMNS if c not in frame]
    if missing:
        _warn(label, f"tidy file lacks column(s) {', '.join(missing)}; skipped")
        return None
    frame = frame.dropna(subset=["iteration", "transitions"])
    if frame.empty:
        _warn(label, "tidy file has no iteration; skipped")
        return None
    numbers = {c: float for c in (*COLUMNS, "budget") if c != "iteration"}
    frame = frame.loc[:, list(TIDY_COLUMNS)].astype({**numbers, "seed": int, "iteration": int,
                                                     "complete": bool})
    for column in ("trial", "model", "env", "ppo"):
        frame[column] = frame[column].astype(str)
    if not frame["complete"].all():
        _warn(frame["trial"].iloc[0], "unfinished; drawn in the figure, left out of the table")
    return frame.sort_values("iteration").reset_index(drop=True)


def _label(trial: str) -> str:
    return "/".join(trial.rstrip("/").rsplit("/", 2)[-2:])


def _read(fs, path: str) -> str | None:
    try:
        with fs.open_input_stream(path) as f:
            return f.read().decode(errors="replace")
    except (FileNotFoundError, OSError):
        return None


def _get(record: dict, name: str) -> Any:
    """``record[name]``, where a ``/`` in ``name`` also walks nested dicts (``result.json``)
    and matches flattened column names as they are (``progress.csv``)."""
    if name in record:
        return record[name]
    value: Any = record
    for part in name.split("/"):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _first(record: dict, names: tuple[str, ...]) -> float:
    """The first of ``names`` that ``record`` carries, as a number (NaN if none)."""
    return _number(next((v for n in names if (v := _get(record, n)) is not None), None))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _records(fs, trial: str, label: str) -> list[dict] | None:
    """The trial's per-iteration results: ``result.json`` lines, else ``progress.csv`` rows."""
    text = _read(fs, f"{trial}/result.json")
    if text is not None:
        records, damaged = [], []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                damaged.append(number)
        if damaged:
            _warn(label, f"result.json line(s) {_ranges(damaged)} damaged (truncated write?); "
                         "skipped")
        if records:
            return records
    why = "no result.json" if text is None else "nothing readable in result.json"
    text = _read(fs, f"{trial}/progress.csv")
    rows = list(csv.DictReader(io.StringIO(text))) if text else []
    complete = [r for r in rows if None not in r and None not in r.values()]
    if not complete:
        _warn(label, f"{why} and no readable progress.csv; skipped")
        return None
    incomplete = len(rows) - len(complete)
    _warn(label, f"{why}; read progress.csv instead"
                 + (f" ({incomplete} incomplete row(s) skipped)" if incomplete else ""))
    return complete


def _value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).strip(chr(34))


def model_label(config: dict) -> str:
    """The trial's model name, with ``@<n>k`` where ``model_config.param_budget`` resized it
    (``--param-budget``) and every other ``--model-config`` option in brackets:
    ``gru@214k`` and ``iam (d_set=items)`` are other models to the analysis than the default
    ``gru`` and ``iam``, in the figure, the table and the exported file names."""
    options = dict(config.get("model_config") or {})
    budget = options.pop("param_budget", None)
    model = str(config["model"]).rpartition(":")[2]  # my_models:gru_k is gru_k
    if budget is not None:
        model += f"@{round(budget / 1000)}k" if isinstance(budget, int | float) else \
            f"@{budget}"
    if options:
        model += " (" + ", ".join(f"{k}={_value(options[k])}" for k in sorted(options)) + ")"
    return model


def ppo_label(config: dict) -> str:
    """The trial's PPO: its variant, then each ``--ppo-config`` change and a ``--decay-over``
    other than the paper's clock, e.g. ``paper+adam_eps=1e-05+decay=budget``. A trial config
    without ``decay_over`` (grids from before it was recorded) decayed over
    `rllib_iam.schema.LEGACY_DECAY_OVER`, its budget: ``paper+decay=budget``."""
    if "ppo" in config:  # a params.json: an older one ran with the schema's defaults
        config = trial_config(config)
    label = str(config.get("ppo", "paper"))
    changes = config.get("ppo_config") or {}
    if isinstance(changes, dict):
        label += "".join(f"+{key}={_value(changes[key])}" for key in sorted(changes))
    # no params.json (model and seed from the folder name): nothing says; a default grid's
    decay = config.get("decay_over", "paper")
    if decay != "paper" and label != "rllib":  # the stock PPO's lr is constant
        label += f"+decay={decay}"
    return label


def _config(fs, trial: str, label: str) -> dict | None:
    text = _read(fs, f"{trial}/params.json")
    try:
        config = json.loads(text) if text is not None else None
    except json.JSONDecodeError:
        config = None
    if isinstance(config, dict) and {"model", "seed"} <= set(config):
        return config
    match = TRIAL_NAME.match(trial.rstrip("/").rsplit("/", 1)[-1])
    problem = "no readable params.json" if config is None else "params.json has no model/seed"
    if match is None:
        _warn(label, f"{problem}, and the folder name does not say model and seed; skipped")
        return None
    _warn(label, f"{problem}; model and seed taken from the folder name, budget unknown")
    return {"model": match["model"], "seed": int(match["seed"])}


def _columns(records: list[dict], label: str) -> dict[str, str] | None:
    """For each tidy column, the first of its accepted names that the records carry."""
    chosen = {}
    for column, names in COLUMNS.items():
        found = next((n for n in names if any(_get(r, n) is not None for r in records)), None)
        if found is not None:
            chosen[column] = found
    missing = [c for c in REQUIRED if c not in chosen]
    if missing:
        wanted = "; ".join(f"{c}: {' or '.join(COLUMNS[c])}" for c in missing)
        _warn(label, f"results lack {wanted}; skipped")
        return None
    fallbacks = [chosen[c] for c in REQUIRED if chosen[c] != COLUMNS[c][0]]
    if fallbacks:
        _warn(label, f"no {FIGURE5} record; used RLlib's {', '.join(fallbacks)}")
    return chosen


def load_trial(fs, trial: str, label: str) -> pd.DataFrame | None:
    """One trial's history (one row per iteration), or None with a warning (naming the trial
    by ``label``) saying why."""
    records = _records(fs, trial, label)
    chosen = _columns(records, label) if records else None
    config = _config(fs, trial, label) if chosen else None
    if config is None:
        return None
    frame = pd.DataFrame({
        column: [_first(r, COLUMNS[column][COLUMNS[column].index(name):]) for r in records]
        for column, name in chosen.items()})
    frame = frame.dropna(subset=["iteration", "transitions"])
    repeated = frame.loc[frame.duplicated("iteration", keep="last"), "iteration"].astype(int)
    if len(repeated):
        _warn(label, f"iteration(s) {_ranges(repeated)} logged more than once (restored trial); "
                     "each counted once, the later record kept")
    frame = frame.drop_duplicates("iteration", keep="last").sort_values("iteration")
    if frame.empty:
        _warn(label, "no iteration with a transition count; skipped")
        return None
    for column in COLUMNS:
        if column not in frame:
            frame[column] = np.nan
    missing_steps = frame["reference_steps"].isna()
    frame.loc[missing_steps, "reference_steps"] = (
        frame.loc[missing_steps, "transitions"] / ENVS_PER_REFERENCE_STEP)
    reached = frame["transitions"].max()
    budget = _number(config.get("timesteps"))
    budget = reached if np.isnan(budget) else budget
    complete = bool(reached >= budget)
    problems = []
    if _read(fs, f"{trial}/error.txt"):
        problems.append("finished after a failure that Tune retried (error.txt)" if complete
                        else "Tune recorded an error (error.txt)")
    if not complete:
        problems.append(f"unfinished ({reached:,.0f} of {budget:,.0f} transitions); drawn in "
                        "the figure, left out of the table")
    if problems:
        _warn(label, "; ".join(problems))
    config_columns = {"trial": label, "model": model_label(config), "seed": int(config["seed"]),
                      "env": str(config.get("env", DEFAULT_ENV)),
                      "ppo": ppo_label(config), "budget": budget,
                      "complete": complete}
    for position, (column, value) in enumerate(config_columns.items()):
        frame.insert(position, column, value)
    frame["iteration"] = frame["iteration"].astype(int)
    return frame


def _ranges(values) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    spans: list[list[int]] = []
    for v in sorted(set(values)):
        if spans and v == spans[-1][1] + 1:
            spans[-1][1] = v
        else:
            spans.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def load_runs(runs: list[str] | str) -> pd.DataFrame:
    """Every trial's full history under ``runs`` (experiment or storage folders, local or
    ``s3://``/``gs://``) as one tidy frame: one row per trial x iteration, with model, seed,
    env, ppo, budget, transitions, reference steps, return, wall time, transitions/s, params.

    Raises `ResultsError` for a missing folder, an unsupported URI or no usable trial; warns
    (`AnalysisWarning`, one line naming the trial) for everything it can work around."""
    import pyarrow.fs

    runs = [runs] if isinstance(runs, str) else list(runs)
    trials: dict[str, tuple[Any, str]] = {}  # label -> (filesystem, folder)
    seen: set[tuple[str, str]] = set()
    for run in runs:
        fs, root = _filesystem(run)
        try:
            info = fs.get_file_info(root)
        except OSError as err:
            raise ResultsError(f"cannot read {run}: {str(err).splitlines()[0]}") from None
        if info.type == pyarrow.fs.FileType.NotFound:
            raise ResultsError(f"no such results folder: {run}")
        if info.type == pyarrow.fs.FileType.Directory:
            found = find_trials(fs, root.rstrip("/")) + tidy_files(fs, root.rstrip("/"))
        elif root.endswith(TIDY_SUFFIXES):
            found = [root]
        else:
            raise ResultsError(f"not a folder or a tidy .csv/.csv.gz file: {run}")
        if not found:
            raise ResultsError(f"no Tune trials or tidy result files under {run}")
        for trial in found:
            if (fs.type_name, trial) in seen:  # a folder given twice is read once
                continue
            seen.add((fs.type_name, trial))
            label = _label(trial)
            trials[label if label not in trials else f"{fs.type_name}:{trial}"] = (fs, trial)
    frames, failed, errored = [], [], set()
    for label, (fs, trial) in trials.items():
        if trial.endswith(TIDY_SUFFIXES):
            f = load_tidy(fs, trial, label)
        elif (record := _failed_without_results(fs, trial, label)) is not None:
            failed.append(record)
            continue
        else:
            f = load_trial(fs, trial, label)
            if f is not None and _read(fs, f"{trial}/error.txt"):
                errored.add(label)
        if f is not None:
            frames.append(f)
    if not frames:
        raise ResultsError(f"no usable trial results under {', '.join(runs)} "
                           "(see the warnings above)")
    frame = pd.concat(frames, ignore_index=True)
    # a trial given both as its folder and as its exported file is one trial
    frame = frame.drop_duplicates(["trial", "iteration"], keep="first")
    frame = _one_trial_per_seed(frame)
    # trials that failed and did not reach their budget (Tune's retries gave up), with results
    ended = frame.groupby("trial").agg(complete=("complete", "last"), model=("model", "first"),
                                       seed=("seed", "first"), env=("env", "first"),
                                       ppo=("ppo", "first"))
    for label in sorted(errored & set(ended.index)):
        if not ended.loc[label, "complete"]:
            failed.append({"trial": label, **ended.loc[label, ["model", "seed", "env",
                                                                 "ppo"]].to_dict()})
    failures = pd.DataFrame(failed, columns=["trial", "model", "seed", "env", "ppo"])
    variants = pd.concat([frame[["env", "ppo"]], failures[["env", "ppo"]]]).groupby(
        "env")["ppo"].nunique()
    for table in (frame, failures):
        other = table["env"].map(variants).gt(1) & (table["ppo"] != "paper")
        table.loc[other, "model"] = (table.loc[other, "model"] + " ("
                                     + table.loc[other, "ppo"] + ")")
    frame = frame.sort_values(["env", "model", "seed", "iteration"]).reset_index(drop=True)
    frame.attrs[FAILED] = failures
    return frame


FAILED = "failed"
"""`load_runs`'s frame ``attrs`` key: the trials that failed (Tune's ``error.txt``) and did
not reach their budget, one row each (trial, model, seed, env, ppo), those that failed before
any result included; the table counts them per model and the verdict names them."""


def failed_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """`load_runs`'s failed trials for `frame` (an empty table for other frames)."""
    failures = frame.attrs.get(FAILED)
    if failures is None:
        return pd.DataFrame(columns=["trial", "model", "seed", "env", "ppo"])
    return failures


def _one_trial_per_seed(frame: pd.DataFrame) -> pd.DataFrame:
    """The same model, seed, env and PPO in several trials (the same grid in two experiments)
    would count one seed twice: keep the trial that got furthest. Warn where trials of one env
    had different budgets, since their final returns then compare unequal training."""
    key = ["env", "ppo", "model", "seed"]
    reach = frame.groupby([*key, "trial"], sort=False).agg(
        transitions=("transitions", "max"), budget=("budget", "first")).reset_index()
    keep = []
    for _, group in reach.groupby(key, sort=False):
        best = group.sort_values("transitions", kind="stable").iloc[-1]
        keep.append(best)
        others = [t for t in group["trial"] if t != best["trial"]]
        if others:
            _warn(best["trial"], f"same model and seed also in {', '.join(others)}; counted "
                                 "once, the trial that got furthest kept")
    kept = pd.DataFrame(keep)
    for (env, ppo), group in kept.groupby(["env", "ppo"]):
        budgets = group.groupby("budget")["model"].unique()
        if len(budgets) > 1:
            spans = "; ".join(f"{b:,.0f}: {', '.join(sorted(set(m)))}"
                              for b, m in budgets.items())
            _warn(f"{env} ({ppo} PPO)", f"trials have different budgets in transitions "
                  f"({spans}); their final returns compare unequal training")
    return frame[frame["trial"].isin(set(kept["trial"]))]
