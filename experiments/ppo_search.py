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

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
from rllib_iam.cli import OneLineParser
from rllib_iam.gridspec import check_experiment, resolve_param_budget
from rllib_iam.models import model_class, module_spec
from rllib_iam.search import dumps, overrides_of, run_search, space_description, trials_table
from rllib_iam.search import winner as best_trial
from rllib_iam.session import RayStartError
from rllib_iam.tracking import TRACKERS, parse_trackers


def count(text: str) -> int:
    """A positive whole number, also written ``1e6``."""
    number = float(text) if "e" in text.lower() else int(text)
    if number != int(number) or number < 1:
        raise ValueError(text)
    return int(number)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="ppo_search", description=__doc__.splitlines()[0],
                           epilog=__doc__.split("\n", 2)[2],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fnn", help="zoo model (default %(default)s)")
    parser.add_argument("--param-budget", metavar="N|MODEL",
                        help="scale the model's widths to N parameters, or to MODEL's count "
                             "(e.g. --model gru --param-budget iam: a GRU of iam's size)")
    parser.add_argument("--env", default=rllib_iam.WAREHOUSE_ID,
                        help="gymnasium id (default %(default)s)")
    parser.add_argument("--samples", default="24", help="configurations tried (default 24)")
    parser.add_argument("--timesteps", default="1e6",
                        help="transitions for a trial ASHA never stops (default 1e6)")
    parser.add_argument("--grace", default="1.25e5",
                        help="transitions before ASHA's first comparison (default 1.25e5)")
    parser.add_argument("--reduction-factor", default="3", help="ASHA's η (default 3)")
    parser.add_argument("--seed", default="0", help="training seed of every trial (default 0)")
    parser.add_argument("--search-seed", default="0",
                        help="seed of the random search's draws (default 0)")
    parser.add_argument("--storage-path", default="runs",
                        help="local folder or URI (default %(default)s)")
    parser.add_argument("--name", default="ppo-search",
                        help="experiment name (default %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue a stopped search")
    parser.add_argument("--max-concurrent", default="2", help="trials at once (default 2)")
    parser.add_argument("--out", help="folder for space.json, trials.csv and winner.json")
    parser.add_argument("--track", action="append", metavar="|".join(TRACKERS),
                        help="also log every trial to wandb and/or mlflow, as figure5.py does")
    args = parser.parse_args(argv)
    try:
        track = parse_trackers(args.track)
    except ValueError as err:
        parser.error(str(err))

    numbers = {}
    for flag in ("samples", "timesteps", "grace", "reduction_factor", "max_concurrent"):
        try:
            numbers[flag] = count(getattr(args, flag))
        except ValueError:
            parser.error(f"--{flag.replace('_', '-')} must be a positive integer, "
                         f"got {getattr(args, flag)!r}")
    for flag in ("seed", "search_seed"):
        try:
            numbers[flag] = int(getattr(args, flag))
        except ValueError:
            numbers[flag] = -1
        if numbers[flag] < 0:
            parser.error(f"--{flag.replace('_', '-')} must be an integer >= 0, "
                         f"got {getattr(args, flag)!r}")
    if numbers["reduction_factor"] < 2:
        parser.error("--reduction-factor must be 2 or more")
    if numbers["grace"] > numbers["timesteps"]:
        parser.error("--grace must not exceed --timesteps")
    try:
        model_class(args.model)  # module:NAME imports the module that registers NAME
    except ValueError as err:
        parser.error(str(err))
    if args.env not in rllib_iam.env_ids():
        parser.error(f"unknown env {args.env!r}; valid: {', '.join(rllib_iam.env_ids())}")
    model_config = {}
    if args.param_budget is not None:
        try:
            model_config["param_budget"] = resolve_param_budget(args.param_budget, args.env)
            module_spec(args.model, args.env, **model_config)
        except ValueError as err:
            parser.error(str(err))
    try:
        check_experiment(args.storage_path, args.name, args.resume)
    except ValueError as err:
        parser.error(str(err))
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out is a file: {args.out}")

    try:
        results = run_search(
            model=args.model, env=args.env, samples=numbers["samples"],
            timesteps=numbers["timesteps"], grace=numbers["grace"],
            reduction_factor=numbers["reduction_factor"], seed=numbers["seed"],
            search_seed=numbers["search_seed"], storage_path=args.storage_path,
            name=args.name, resume=args.resume, max_concurrent=numbers["max_concurrent"],
            track=track, model_config=model_config,
        )
    except RayStartError as err:
        print(f"ppo_search: error: {err}", file=sys.stderr)
        return 1
    rows = sorted(trials_table(results),
                  key=lambda r: float("inf") if r["return"] is None else -r["return"])
    best = best_trial(rows, numbers["timesteps"])
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
