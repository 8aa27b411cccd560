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

Results: ``<storage-path>/<name>/<model>_seed<k>/`` (Tune's result.json, progress.csv,
TensorBoard events, checkpoints); the figure and table are written next to them
(``.../<name>/figure5/``, or ``./figure5-<name>/`` when the storage is a cloud URI).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

try:
    import rllib_iam
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")
from rllib_iam.cli import OneLineParser
from rllib_iam.envs.registry import spec_for
from rllib_iam.grid import (
    LEGACY_DECAY_OVER,
    PROFILES,
    default_models_for,
    experiment_exists,
    outcome,
    profiles_for,
    run_grid,
    stored_trials,
)
from rllib_iam.models import MODELS, count_params, module_spec
from rllib_iam.tracking import TRACKERS, parse_trackers
from rllib_iam.training import DECAY_CHOICES, PPO_VARIANTS, ppo_settings

SUPPORTED_SCHEMES = ("s3", "gs", "file")


def positive_int(text: str) -> int:
    """An integer >= 1, also in scientific notation (``4e6``) when that is a whole number."""
    try:
        number = float(text) if "e" in text.lower() else int(text)
        whole = int(number)
    except (ValueError, OverflowError):
        whole = number = 0
    if number != whole or whole < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return whole


def param_budget(text: str, env: str, fail) -> int:
    """``--param-budget``: a positive count, or a model name standing for its default count."""
    if text in MODELS:
        try:
            return count_params(module_spec(text, env).build())
        except ValueError as err:
            fail(f"--param-budget {text}: {err}")
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        fail(f"--param-budget must be a positive count or a model name ({', '.join(MODELS)}), "
             f"got {text!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", help=f"one of {', '.join(PROFILES)} (default quick)")
    parser.add_argument("--models",
                        help=f"comma-separated, any of {', '.join(MODELS)}")
    parser.add_argument("--seeds", type=positive_int, help="seeds per model (profile default)")
    parser.add_argument("--first-seed", type=int,
                        help="seeds run first-seed .. first-seed + seeds - 1 (default 0), so a "
                             "long grid can run in chunks of seeds")
    parser.add_argument("--timesteps", type=positive_int,
                        help="env transitions per trial (overrides the profile)")
    parser.add_argument("--env", help=f"one of {', '.join(rllib_iam.env_ids())}, or MODULE:ID "
                                      "for an env that the module MODULE registers (README: "
                                      f"Adding an environment; default {rllib_iam.WAREHOUSE_ID})")
    parser.add_argument("--model-config", metavar="JSON",
                        help="model options for every model listed, e.g. --models iam "
                             '--model-config \'{"d_set": "items"}\'')
    parser.add_argument("--param-budget", metavar="N|MODEL",
                        help="scale each model's widths to N parameters, or to MODEL's count "
                             "(e.g. iam: the parameter-matched comparison)")
    parser.add_argument("--ppo", help=f"one of {', '.join(PPO_VARIANTS)} (default paper)")
    parser.add_argument("--ppo-config", metavar="JSON",
                        help='paper PPO settings to change, e.g. \'{"adam_eps": 1e-5}\' '
                             "(fields of rllib_iam.training.PaperPPO; docs/ppo.md)")
    parser.add_argument("--decay-over", metavar="paper|budget|N",
                        help="where the lr and clip decays end: paper (default: the paper's "
                             "32e6 transitions, whatever --timesteps), budget (the trial's own "
                             "budget, as the 2026-11 blog grid ran) or N transitions")
    parser.add_argument(
        "--storage-path", default="runs",
        help="local folder, or a file://, s3:// or gs:// URI (default %(default)s)"
    )
    parser.add_argument("--name", help="experiment name (default figure5-<profile>)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--max-concurrent", type=positive_int, help="trials at once")
    parser.add_argument("--cpus-per-trial", type=positive_int,
                        help="1 (default): sample and learn in one process; k > 1: k - 1 env "
                             "runners")
    parser.add_argument("--no-analysis", action="store_true", help="skip the figure at the end")
    parser.add_argument("--track", action="append", metavar="|".join(TRACKERS),
                        help="also log every trial to wandb (offline unless WANDB_MODE says "
                             "otherwise) or mlflow (<storage-path>/mlflow.db unless "
                             "MLFLOW_TRACKING_URI is set); repeat or comma-separate for both")
    args = parser.parse_args(argv)

    fail = parser.error
    grid_flags = {flag: getattr(args, flag.lstrip("-").replace("-", "_")) is not None
                  for flag in GRID_FLAGS}
    args.profile = args.profile or "quick"
    args.models = args.models or ",".join(default_models_for(args.env or rllib_iam.WAREHOUSE_ID))
    args.first_seed = 0 if args.first_seed is None else args.first_seed
    args.env = args.env or rllib_iam.WAREHOUSE_ID
    args.model_config = args.model_config or "{}"
    args.ppo = args.ppo or "paper"
    args.decay_over = args.decay_over or "paper"
    args.cpus_per_trial = args.cpus_per_trial or 1
    try:
        args.track = parse_trackers(args.track)
    except ValueError as err:
        fail(str(err))

    if args.profile not in PROFILES:
        fail(f"unknown profile {args.profile!r}; valid: {', '.join(PROFILES)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        fail(f"unknown model(s) {', '.join(unknown) or '(none)'}; valid: {', '.join(MODELS)}")
    if len(set(models)) != len(models):
        fail(f"--models lists a model twice: {args.models}")
    args.models = models
    try:
        spec_for(args.env)
    except ValueError as err:
        fail(str(err))
    model_config = json_object(args.model_config, "--model-config", fail)
    if "env_id" in model_config:
        fail("--model-config cannot set env_id; use --env")
    if args.param_budget is not None:
        if "param_budget" in model_config:
            fail("--param-budget and --model-config's param_budget conflict; give one")
        model_config["param_budget"] = param_budget(args.param_budget, args.env, fail)
    for model in models:
        try:
            module_spec(model, args.env, **model_config)
        except (ValueError, TypeError) as err:
            fail(f"--model-config for {model}: {err}")
    args.model_config = model_config
    if args.ppo not in PPO_VARIANTS:
        fail(f"unknown --ppo {args.ppo!r}; valid: {', '.join(PPO_VARIANTS)}")
    args.ppo_config = ppo_overrides(args, fail)
    if args.decay_over not in DECAY_CHOICES:
        try:
            args.decay_over = positive_int(args.decay_over)
        except argparse.ArgumentTypeError:
            fail(f"--decay-over must be {', '.join(DECAY_CHOICES)} or a positive transition "
                 f"count, got {args.decay_over!r}")
    # the rllib variant keeps the paper's layout (envs, fragment, minibatch)
    try:
        settings = ppo_settings(args.env, "paper" if args.ppo == "rllib" else args.ppo,
                                args.ppo_config)
    except ValueError as err:
        fail(f"--ppo {args.ppo}: {err}")
    runners = args.cpus_per_trial - 1
    num_envs = settings.num_envs
    if runners and num_envs % runners:
        fail(f"--cpus-per-trial {args.cpus_per_trial}: the {num_envs} envs must split "
             f"evenly over {runners} env runners")
    if args.first_seed < 0:
        fail(f"--first-seed must be 0 or more, got {args.first_seed}")
    profile = profiles_for(args.env)[args.profile]
    args.seeds = args.seeds or profile.seeds
    args.timesteps = args.timesteps or profile.timesteps
    update = settings.num_envs * settings.rollout_fragment_length
    if settings.minibatch_size > update:
        fail(f"--ppo-config: minibatch_size {settings.minibatch_size} exceeds the update of "
             f"num_envs x rollout_fragment_length = {update} transitions")
    args.checkpoint_every = profile.checkpoint_every
    args.name = args.name or f"figure5-{args.profile}"
    if "/" in args.name or args.name.startswith("."):
        fail(f"--name must be a plain folder name, got {args.name!r}")

    storage = args.storage_path
    if "://" in storage:
        scheme = storage.split("://", 1)[0]
        if scheme not in SUPPORTED_SCHEMES:
            fail(f"unsupported storage URI scheme {scheme!r}; use a local path or "
                 f"{', '.join(s + '://' for s in SUPPORTED_SCHEMES)}")
    else:
        existing = Path(storage)
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            fail(f"storage path {storage!r} is not a writable folder")
    try:
        exists = experiment_exists(storage, args.name)
    except OSError as err:
        fail(f"cannot reach storage path {storage!r}: {err}")
    if exists and not args.resume:
        fail(f"experiment {args.name!r} already exists in {storage!r}; pass --resume to "
             "continue it or --name to start another")
    if args.resume and not exists:
        fail(f"nothing to resume: no experiment {args.name!r} in {storage!r}")
    if args.resume and not resumable(storage, args.name):
        fail(f"{args.name!r} in {storage!r} is not a Tune experiment (no tuner.pkl): nothing "
             "to resume; start another with --name")
    if args.resume:
        conflict = resume_conflict(args, grid_flags, stored_trials(storage, args.name))
        if conflict:
            fail(f"--resume continues {args.name!r} as it was started, but {conflict}; drop the "
                 "flag, or start another experiment with --name")
    return args


def resumable(storage: str, name: str) -> bool:
    """Whether ``<storage>/<name>`` holds a Tune experiment that `Tuner.restore` can read."""
    from ray import tune

    path = storage if "://" in storage else os.path.abspath(storage)
    return tune.Tuner.can_restore(f"{path.rstrip('/')}/{name}")


def json_object(text: str, flag: str, fail) -> dict:
    """A flag's JSON object, or a one-line error naming the flag."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        fail(f"{flag} is not JSON ({err.msg}): {text}")
    if not isinstance(value, dict):
        fail(f"{flag} must be a JSON object, got {text}")
    return value


def ppo_overrides(args: argparse.Namespace, fail) -> dict:
    """``--ppo-config`` as checked `PaperPPO` overrides (empty when not given)."""
    if args.ppo_config is None:
        return {}
    if args.ppo == "rllib":
        fail("--ppo-config changes the paper PPO's settings; it does not apply to --ppo rllib")
    overrides = json_object(args.ppo_config, "--ppo-config", fail)
    try:
        ppo_settings(args.env, args.ppo, overrides)
    except ValueError as err:
        fail(f"--ppo-config: {err}")
    return overrides


GRID_FLAGS = ("--profile", "--models", "--seeds", "--first-seed", "--timesteps", "--env",
              "--model-config", "--param-budget", "--ppo", "--ppo-config", "--decay-over",
              "--cpus-per-trial")
"""Flags that shape the grid: with --resume they may only repeat what the experiment was
started with (Tune restores the stored grid; a different value would be silently ignored)."""


def resume_conflict(args: argparse.Namespace, given: dict[str, bool],
                    trials: list[dict]) -> str | None:
    """What an explicitly given grid flag contradicts in the stored trials' configs."""
    if not trials:  # interrupted before any trial wrote its config: nothing to compare
        return None
    stored = {
        "models": sorted({t["model"] for t in trials}),
        "seeds": sorted({int(t["seed"]) for t in trials}),
        "timesteps": sorted({int(t.get("timesteps", 0)) for t in trials}),
        "env": sorted({t.get("env") for t in trials}),
        "ppo": sorted({t.get("ppo") for t in trials}),
        "ppo_config": sorted({json.dumps(t.get("ppo_config") or {}, sort_keys=True)
                              for t in trials}),
        "decay_over": sorted({str(t.get("decay_over", LEGACY_DECAY_OVER)) for t in trials}),
        "model_config": sorted({json.dumps(t.get("model_config") or {}, sort_keys=True)
                                for t in trials}),
        "cpus_per_trial": sorted({int(t.get("num_env_runners", 0)) + 1 for t in trials}),
    }
    asked = {
        "models": (("--models",), sorted(args.models)),
        "seeds": (("--seeds", "--first-seed"),
                  list(range(args.first_seed, args.first_seed + args.seeds))),
        "timesteps": (("--timesteps", "--profile"), [args.timesteps]),
        "env": (("--env",), [args.env]),
        "ppo": (("--ppo",), [args.ppo]),
        "ppo_config": (("--ppo-config",), [json.dumps(args.ppo_config, sort_keys=True)]),
        "decay_over": (("--decay-over",), [str(args.decay_over)]),
        "model_config": (("--model-config", "--param-budget"),
                         [json.dumps(args.model_config, sort_keys=True)]),
        "cpus_per_trial": (("--cpus-per-trial",), [args.cpus_per_trial]),
    }
    for key, (flags, value) in asked.items():
        named = [f for f in flags if given.get(f)]
        if named and value != stored[key]:
            shown, wanted = (", ".join(map(str, v)) for v in (stored[key], value))
            return f"{'/'.join(named)} asks for {key} {wanted} (stored: {shown})"
    return None



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run_grid(
        models=args.models,
        seeds=args.seeds,
        model_config=args.model_config,
        ppo_overrides=args.ppo_config,
        decay_over=args.decay_over,
        first_seed=args.first_seed,
        timesteps=args.timesteps,
        env=args.env,
        ppo=args.ppo,
        storage_path=args.storage_path,
        name=args.name,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        max_concurrent=args.max_concurrent,
        cpus_per_trial=args.cpus_per_trial,
        track=args.track,
    )
    outcomes = [outcome(r) for r in results]
    stopped, failed = outcomes.count("stopped"), outcomes.count("failed")
    print(f"{outcomes.count('finished')} of {len(results)} trials finished"
          + (f", {stopped} stopped before their budget (--resume continues them)"
             if stopped else "")
          + (f", {failed} failed" if failed else "")
          + f"; results in {results.experiment_path}")
    if not args.no_analysis:
        from analysis.figure5 import write_report
        from analysis.load import ResultsError

        experiment = results.experiment_path
        out = (f"{experiment}/figure5" if "://" not in experiment
               else f"figure5-{args.name}")
        try:
            for path in write_report([experiment], out):
                print(f"wrote {path}")
        except ResultsError as err:
            print(f"figure5.py: no figure: {err}", file=sys.stderr)
            return 1
    return 1 if stopped or failed else 0


if __name__ == "__main__":
    sys.exit(main())
