"""Figure 5 of the IAM paper: every model x seed trained with the paper's PPO, then the figure.

On a laptop this starts Ray locally; with ``RAY_ADDRESS`` set, or through
``ray job submit -- python experiments/figure5.py ...``, it runs on that cluster unchanged.

    python experiments/figure5.py                       # the quick profile: 5 models x 2 seeds
    python experiments/figure5.py --profile smoke       # 2 iterations per model (minutes)
    python experiments/figure5.py --profile blog --storage-path s3://bucket/iam
    python experiments/figure5.py --name figure5-quick --resume     # after an interruption
    python experiments/figure5.py --profile blog --seeds 1 --first-seed 2 --name blog-seed2
    python experiments/figure5.py --env rllib_iam/Traffic-v0 --profile smoke
    python experiments/figure5.py --env my_envs:my/Maze-v0   # an env my_envs.py registers
    python experiments/figure5.py --profile blog --ppo tuned --estimate   # its hours, first
    python experiments/figure5.py --status --storage-path ~/rllib-iam-runs  # where runs stand

Results: ``<storage-path>/<name>/<model>_seed<k>/`` (Tune's result.json, progress.csv,
TensorBoard events, checkpoints); the figure and table are written next to them
(``.../<name>/figure5/``, or ``./figure5-<name>/`` when the storage is a cloud URI).
"""

from __future__ import annotations

import argparse
import sys

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
from rllib_iam.cli import OneLineParser, add_field_flags
from rllib_iam.grid import PROFILES, run_grid, summary
from rllib_iam.gridspec import GridSpec, GridSpecError
from rllib_iam.models import MODELS
from rllib_iam.session import RayStartError
from rllib_iam.storage import URI_FORMS
from rllib_iam.trial import add_trial_flags

TRIAL_FLAGS = ("timesteps", "env", "model_config", "ppo", "ppo_config", "decay_over",
               "cpus_per_trial")
"""The flags of every trial of the grid: `rllib_iam.trial.TrialSpec`'s fields but the model
and seed, which ``--models``, ``--seeds`` and ``--first-seed`` vary."""
RUN_FLAGS = ("storage_path", "name", "resume", "max_concurrent", "track")
"""Where the grid's experiment is kept and how it runs (`GridSpec`'s fields, shared with
ppo_search.py)."""


def make_parser() -> OneLineParser:
    """The command line: the grid's and its trials' flags from their records' fields
    (`GridSpec`, `rllib_iam.trial.TrialSpec`), then the script's own."""
    parser = OneLineParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_field_flags(parser, GridSpec, ("profile", "models", "seeds", "first_seed"), notes={
        "profile": f"({', '.join(PROFILES)})",
        "models": f"(any of {', '.join(MODELS)}, or MODULE:NAME)"})
    add_trial_flags(parser, TRIAL_FLAGS, notes={
        "timesteps": "(default: the profile's)", "env": f"({', '.join(rllib_iam.env_ids())})"})
    add_field_flags(parser, GridSpec, RUN_FLAGS, defaults={"storage_path": "runs"},
                    notes={"storage_path": f"({URI_FORMS})", "name": "(default figure5-<profile>)"})
    add = parser.add_argument
    add("--no-analysis", action="store_true", help="skip the figure at the end")
    add("--estimate", action="store_true", help="run no trial: time 1 + 3 updates of each "
        "model here and print the grid's hours per trial, CPU-hours and wall time (writes "
        "nothing)")
    add("--status", action="store_true", help="run nothing: print each trial of --name (or of "
        "every experiment in --storage-path) with its transitions done, rate, ETA, last "
        "checkpoint and what --resume would do (writes nothing)")
    return parser


def parse_args(argv: list[str] | None) -> tuple[GridSpec, bool, bool]:
    """The checked grid of the command line (one-line error and exit 2 otherwise), whether
    to draw the figure at the end, and whether only to estimate the grid's cost."""
    parser = make_parser()
    args = vars(parser.parse_args(argv))
    if args.pop("status"):
        given = [f"--{k.replace('_', '-')}" for k, v in args.items()
                 if v not in (None, False) and k not in ("name", "storage_path")]
        if given:
            parser.error(f"--status reads a grid's files and takes only --name and "
                         f"--storage-path, not {', '.join(given)}")
        from rllib_iam.status import report

        try:
            print(report(args["storage_path"], args["name"]))
        except ValueError as err:
            parser.error(str(err))
        sys.exit(0)
    analysis, estimate = not args.pop("no_analysis"), args.pop("estimate")
    if estimate and args["resume"]:
        parser.error("--estimate prices a whole grid before it starts; drop --resume")
    try:
        return GridSpec.from_flags(**args), analysis, estimate
    except GridSpecError as err:
        parser.error(str(err))


def print_estimate(spec: GridSpec) -> int:
    """`--estimate`: the grid's cost, timed here (`rllib_iam.estimate`)."""
    import ray

    from rllib_iam.estimate import estimate, report

    costs = estimate(spec)
    print(report(spec, costs, ray.cluster_resources().get("CPU", 1)))
    return 0


def main(argv: list[str] | None = None) -> int:
    spec, analysis, estimate = parse_args(argv)
    try:
        if estimate:
            return print_estimate(spec)
        results = run_grid(spec)
    except RayStartError as err:
        print(f"figure5.py: error: {err}", file=sys.stderr)
        return 1
    line, complete = summary(results)
    print(line)
    if analysis:
        from analysis.figure5 import write_report
        from analysis.load import ResultsError

        experiment = results.experiment_path
        out = f"{experiment}/figure5" if spec.storage.is_local else f"figure5-{spec.name}"
        try:
            for path in write_report([experiment], out):
                print(f"wrote {path}")
        except ResultsError as err:
            print(f"figure5.py: no figure: {err}", file=sys.stderr)
            return 1
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
