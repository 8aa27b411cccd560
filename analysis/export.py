"""Tune results as small tidy files, one per finished trial, to commit or share.

    python -m analysis.export RUNS [RUNS ...] --out DIR [--include-unfinished]

RUNS are what `analysis.figure5` reads (experiment or storage folders, local or ``s3://``/
``gs://``, or tidy files). Each trial becomes ``DIR/<model>_seed<k>.csv.gz``: the tidy frame's
rows for that trial (one per training iteration, columns `analysis.load.TIDY_COLUMNS`),
gzip-compressed with a fixed header time, so the same results always give the same bytes.
Checkpoints are never copied. `analysis.figure5` and the notebook read ``DIR`` like a Tune
folder, so a figure and table can be regenerated from the committed files alone.

A file already in ``DIR`` is never overwritten: identical content is left as it is, different
content is refused with a one-line error (exit 2) before anything is written. Unfinished trials
are left out unless ``--include-unfinished`` (a later, complete export then refuses to replace
them: delete the old file first, on purpose).
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pandas as pd

from analysis.load import TIDY_COLUMNS, ResultsError, load_runs, warnings_to_stderr
from rllib_iam.cli import OneLineParser
from rllib_iam.schema import trial_name

FLOAT_FORMAT = "%.8g"
"""Eight significant digits: exact for every count, far below the returns' seed noise."""


def file_name(model: str, seed: int, env: str, ppo: str, envs: int, ppos: int) -> str:
    """``<model>_seed<k>.csv.gz``, prefixed by env and PPO variant only where several are
    exported together (their names would clash otherwise)."""
    parts = [env.split("/")[-1]] if envs > 1 else []
    parts += [ppo] if ppos > 1 else []
    return "-".join([*parts, trial_name(model, seed)]) + ".csv.gz"


def tidy_bytes(trial: pd.DataFrame) -> bytes:
    """One trial's rows as gzip-compressed CSV with a fixed header time (reproducible bytes)."""
    text = trial.loc[:, list(TIDY_COLUMNS)].to_csv(index=False, float_format=FLOAT_FORMAT)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(text.encode())
    return buffer.getvalue()


def export(runs: list[str], out: str, include_unfinished: bool = False) -> tuple[list[str], int]:
    """Write one tidy file per trial into ``out``; returns (paths written or already there,
    number of trials left out as unfinished). Raises `ResultsError` before writing anything
    when the results cannot be read or a file in ``out`` holds different content."""
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ResultsError(f"output folder is a file: {out}")
    frame = load_runs(runs)
    kept = frame if include_unfinished else frame[frame["complete"]]
    if kept.empty:
        raise ResultsError(f"no finished trial under {', '.join(runs)} (--include-unfinished "
                           "exports the others)")
    envs, ppos = frame["env"].nunique(), frame["ppo"].nunique()
    files: dict[Path, bytes] = {}
    for (env, ppo, model, seed), trial in kept.groupby(["env", "ppo", "model", "seed"]):
        model = model.removesuffix(f" ({ppo})")  # load_runs names mixed variants; undo it
        name = file_name(model, int(seed), env, ppo, envs, ppos)
        files[out_dir / name] = tidy_bytes(trial.assign(model=model))
    for path, content in files.items():
        if path.exists() and path.read_bytes() != content:
            raise ResultsError(f"{path} exists with different content; not overwritten "
                               "(move it away first if the new results should replace it)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, content in files.items():
        if not path.exists():
            path.write_bytes(content)
    left_out = frame.loc[~frame["complete"], "trial"].nunique() if not include_unfinished else 0
    return [str(p) for p in files], left_out


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+",
        help="experiment or storage folders (or URIs), or tidy .csv/.csv.gz files",
    )
    parser.add_argument("--out", required=True, help="folder for the tidy files")
    parser.add_argument("--include-unfinished", action="store_true",
                        help="also export trials that did not reach their budget")
    args = parser.parse_args(argv)
    with warnings_to_stderr():
        try:
            paths, left_out = export(args.runs, args.out, args.include_unfinished)
        except ResultsError as err:
            parser.error(str(err))
    for path in paths:
        print(f"tidy {path}")
    if left_out:
        print(f"{left_out} unfinished trial(s) left out", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
