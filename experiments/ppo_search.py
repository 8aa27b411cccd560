"""Search the paper PPO's settings with Ray Tune (random search + ASHA) for a PPO that learns.

    python experiments/ppo_search.py --model fnn --samples 24 --timesteps 1e6 --out DIR
    python experiments/ppo_search.py --name ppo-search --resume --out DIR   # after a stop

Each sample is one trial of `rllib_iam.grid.Figure5Trial` with a ``ppo_config`` drawn from
`rllib_iam.search.search_space`; ASHA stops the weak ones at rungs of ``--grace`` x
``--reduction-factor``^k transitions. Results: ``<storage-path>/<name>/`` (Tune's folder, as the
grid's); with ``--out``: ``space.json``, ``trials.csv`` (settings, transitions reached, last
return per trial) and ``winner.json`` (the best trial that ran the whole budget, as
``--ppo-config`` takes it).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
from rllib_iam.cli import OneLineParser, add_field_flags, positive_int
from rllib_iam.gridspec import GridSpec, check_experiment, resolve_param_budget
from rllib_iam.search import dumps, overrides_of, run_search, space_description, trials_table
from rllib_iam.search import winner as best_trial
from rllib_iam.session import RayStartError
from rllib_iam.tracking import parse_trackers
from rllib_iam.trial import TrialSpec, TrialSpecError, add_trial_flags, parse_flags

TRIAL_FLAGS = ("model", "seed", "timesteps", "env", "model_config", "decay_over",
               "cpus_per_trial")
"""The template trial's flags (`rllib_iam.trial.TrialSpec`'s fields, as figure5.py's): the
search draws its ``ppo_config`` for the paper PPO."""
RUN_FLAGS = ("storage_path", "name", "resume", "max_concurrent", "track")
"""The experiment's flags, figure5.py's (`rllib_iam.gridspec.GridSpec`'s fields)."""


def make_parser() -> OneLineParser:
    """The command line: the template trial's and the experiment's flags from their records'
    fields (figure5.py's), then the search's own."""
    parser = OneLineParser(prog="ppo_search", description=__doc__.splitlines()[0],
                           epilog=__doc__.split("\n", 2)[2],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    add_trial_flags(parser, TRIAL_FLAGS, defaults={"model": "fnn", "seed": "0",
                                                   "timesteps": "1e6"})
    add_field_flags(parser, GridSpec, RUN_FLAGS, defaults={
        "storage_path": "runs", "name": "ppo-search", "max_concurrent": "2"})
    add = parser.add_argument
    add("--samples", default="24", help="configurations tried (default 24)")
    add("--grace", default="1.25e5",
        help="transitions before ASHA's first comparison (default 1.25e5)")
    add("--reduction-factor", default="3", help="ASHA's η (default 3)")
    add("--search-seed", default="0", help="seed of the random search's draws (default 0)")
    add("--out", help="folder for space.json, trials.csv and winner.json")
    return parser


def parse_args(argv: list[str] | None) -> tuple[TrialSpec, dict[str, Any], argparse.Namespace]:
    """The checked template trial of the command line, the search's own numbers and the rest
    of the flags; a one-line error and exit 2 otherwise. Looks at the storage, writes nothing."""
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        args.track = parse_trackers(args.track)
    except ValueError as err:
        parser.error(str(err))

    numbers = {}
    for flag in ("samples", "grace", "reduction_factor", "max_concurrent"):
        try:
            numbers[flag] = positive_int(getattr(args, flag))
        except argparse.ArgumentTypeError:
            parser.error(f"--{flag.replace('_', '-')} must be a positive integer, "
                         f"got {getattr(args, flag)!r}")
    try:
        numbers["search_seed"] = int(args.search_seed)
    except ValueError:
        numbers["search_seed"] = -1
    if numbers["search_seed"] < 0:
        parser.error(f"--search-seed must be an integer >= 0, got {args.search_seed!r}")
    try:
        values = parse_flags({name: getattr(args, name) for name in TRIAL_FLAGS})
    except TrialSpecError as err:
        parser.error(str(err))
    if numbers["reduction_factor"] < 2:
        parser.error("--reduction-factor must be 2 or more")
    if numbers["grace"] > values["timesteps"]:
        parser.error("--grace must not exceed --timesteps")
    try:
        if args.param_budget is not None:
            env = values.get("env", rllib_iam.WAREHOUSE_ID)
            budget = resolve_param_budget(args.param_budget, env)
            values["model_config"] = {**values.get("model_config", {}), "param_budget": budget}
        trial = TrialSpec(**values)
        check_experiment(args.storage_path, args.name, args.resume)
    except ValueError as err:
        parser.error(str(err))
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out is a file: {args.out}")
    return trial, numbers, args


def main(argv: list[str] | None = None) -> int:
    trial, numbers, args = parse_args(argv)
    try:
        results = run_search(
            trial=trial, samples=numbers["samples"], grace=numbers["grace"],
            reduction_factor=numbers["reduction_factor"], search_seed=numbers["search_seed"],
            storage_path=args.storage_path, name=args.name, resume=args.resume,
            max_concurrent=numbers["max_concurrent"], track=args.track,
        )
    except RayStartError as err:
        print(f"ppo_search: error: {err}", file=sys.stderr)
        return 1
    rows = sorted(trials_table(results),
                  key=lambda r: float("inf") if r["return"] is None else -r["return"])
    best = best_trial(rows, trial.timesteps)
    for row in rows[:5]:
        value = "no finished episode" if row["return"] is None else f"{row['return']:.2f}"
        print(f"{row['trial']}: {value} at {row['transitions'] or 0:,} transitions")
    if best is None:
        print("ppo_search: no trial ran its whole budget", file=sys.stderr)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "space.json").write_text(dumps(space_description()))
        columns = sorted({k for r in rows for k in r}, key=lambda k: (k.startswith("ppo."), k))
        with (out / "trials.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        if best is not None:
            (out / "winner.json").write_text(dumps({
                "trial": best["trial"], "return": best["return"],
                "transitions": best["transitions"], "ppo_config": overrides_of(best)}))
        print(f"wrote {out}/")
    return 0 if best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
