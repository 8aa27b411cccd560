"""`TrialSpec`: one trial's record, checked once, stored by Tune as it always was, read back
for older grids with the schema's defaults, and the flags of both scripts made from it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest

from rllib_iam import WAREHOUSE_ID
from rllib_iam.cli import field_docs, flag
from rllib_iam.gridspec import GridSpec
from rllib_iam.schema import LEGACY_DECAY_OVER, OLDER_TRIAL_DEFAULTS
from rllib_iam.trial import FIELDS, TrialSpec, TrialSpecError

ROOT = Path(__file__).resolve().parent.parent


def script(name: str):
    """experiments/<name>.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script",
                                                  ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stored_config_is_the_one_grids_always_wrote_and_reads_back():
    plain = TrialSpec(model="fnn", seed=0, timesteps=2048)
    assert plain.to_config() == {"model": "fnn", "seed": 0, "env": WAREHOUSE_ID,
                                 "timesteps": 2048, "ppo": "paper", "decay_over": "paper",
                                 "num_env_runners": 0}
    full = TrialSpec(model="iam", seed=3, timesteps=4096, ppo="tuned",
                     ppo_config={"adam_eps": 1e-5}, decay_over=4_000_000,
                     model_config={"d_set": "items"}, cpus_per_trial=3)
    assert full.to_config()["num_env_runners"] == 2 and full.num_env_runners == 2
    assert TrialSpec.from_config(full.to_config()) == full
    assert TrialSpec.from_config(plain.to_config()) == plain


def test_a_trial_of_a_grid_from_before_the_record_runs_as_it_did():
    """A trial config written before ``decay_over`` and ``num_env_runners`` existed (the 2026-11
    grids: model, seed, env, timesteps, ppo) resumes with the schema's defaults: its decays
    end at its own budget, one process."""
    from rllib_iam.grid import Figure5Metrics, trial_ppo_config

    old = {"model": "fnn", "seed": 1, "env": WAREHOUSE_ID, "timesteps": 4096, "ppo": "paper"}
    trial = TrialSpec.from_config(old)
    assert trial.decay_over == LEGACY_DECAY_OVER == "budget" and trial.cpus_per_trial == 1
    assert trial.ppo_config == {} and trial.model_config == {}
    config = trial_ppo_config(old)
    assert config.lr == [[0, 2.5e-4], [4096, 1e-10]]
    assert config.num_env_runners == 0 and config.num_envs_per_env_runner == 8
    assert config.seed == 1 and Figure5Metrics in config.callbacks_class
    assert set(OLDER_TRIAL_DEFAULTS) <= {f.name for f in dataclasses.fields(TrialSpec)} | {
        "num_env_runners"}


def test_the_older_trials_resume_check_reads_them_with_the_same_defaults(tmp_path):
    from rllib_iam.gridspec import stored_shape

    trial = tmp_path / "old" / "fnn_seed0"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"model": "fnn", "seed": 0, "env": WAREHOUSE_ID,
                                                   "timesteps": 4096, "ppo": "paper"}))
    shape = stored_shape(str(tmp_path / "old"))
    assert shape["decay_over"] == ["budget"] and shape["cpus_per_trial"] == [1]
    assert shape["ppo_config"] == ["{}"] and shape["model_config"] == ["{}"]


@pytest.mark.parametrize("changes, message", [
    ({"model": "transformer"}, "unknown model 'transformer'; valid: "),
    ({"env": "CartPole-v1"}, "unknown env 'CartPole-v1'; valid: "),
    ({"seed": -1}, "--seed must be an integer >= 0, got -1"),
    ({"timesteps": 0}, "--timesteps must be an integer >= 1, got 0"),
    ({"ppo": "sgd"}, "unknown --ppo 'sgd'; valid: paper, tuned, rllib"),
    ({"ppo": "rllib", "ppo_config": {"lr": 1e-3}}, "it does not apply to --ppo rllib"),
    ({"ppo_config": {"lr_max": 1}}, "--ppo-config: unknown PPO setting 'lr_max'"),
    ({"ppo_config": {"minibatch_size": 4096}}, "--ppo-config: minibatch_size 4096 exceeds"),
    ({"decay_over": "never"}, "--decay-over must be paper, budget or a positive transition"),
    ({"model_config": {"env_id": "x"}}, "--model-config cannot set env_id; use --env"),
    ({"model_config": {"widht": 3}}, "--model-config for fnn: "),
    ({"cpus_per_trial": 4}, "--cpus-per-trial 4: the 8 envs must split evenly over 3 env"),
])
def test_a_trial_that_cannot_run_is_refused_in_one_line(changes, message):
    with pytest.raises(TrialSpecError) as err:
        TrialSpec(**{"model": "fnn", "seed": 0, "timesteps": 2048, **changes})
    assert message in str(err.value) and "\n" not in str(err.value)


def options(parser) -> dict[str, str]:
    """Flag -> its help text."""
    return {a.option_strings[0]: a.help or "" for a in parser._actions if a.option_strings}


def test_every_field_of_the_records_is_a_flag_with_its_docstring_as_help():
    """A flag added to the grid or a trial is a field with its docstring: both scripts build
    their parsers from `GridSpec` and `TrialSpec`."""
    figure5, search = options(script("figure5").make_parser()), options(
        script("ppo_search").make_parser())
    trial_docs, grid_docs = field_docs(TrialSpec), field_docs(GridSpec)
    for name in FIELDS:
        where = [flags for flags in (figure5, search) if flag(name) in flags]
        assert where, name  # model and seed: the search's; the grid varies them
        for flags in where:
            assert flags[flag(name)].startswith(trial_docs[name].replace("%", "%%")), name
    derived = {"checkpoint_every", "num_envs", "given"}
    for field in dataclasses.fields(GridSpec):
        if field.name in derived:
            continue
        assert flag(field.name) in figure5, field.name
        doc = (trial_docs if field.name in FIELDS else grid_docs)[field.name]
        assert figure5[flag(field.name)].startswith(doc.replace("%", "%%")), field.name
    for shared in ("--env", "--timesteps", "--model-config", "--param-budget", "--decay-over",
                   "--cpus-per-trial", "--storage-path", "--name", "--resume",
                   "--max-concurrent", "--track"):
        assert shared in figure5 and shared in search, shared


def search_examples() -> list[list[str]]:
    """Every ``python experiments/ppo_search.py ...`` line of the script's own help."""
    text = (ROOT / "experiments/ppo_search.py").read_text().split('"""')[1]
    return [shlex.split(line.split("ppo_search.py", 1)[1].split("#")[0])
            for line in text.splitlines() if "python experiments/ppo_search.py" in line]


@pytest.mark.parametrize("args", search_examples(), ids=" ".join)
def test_every_help_example_of_the_search_passes_its_validation(args, tmp_path, capsys):
    """As figure5.py's (tests/test_gridspec.py): storage in a temporary folder, so a
    ``--resume`` example may only fail for want of an experiment to resume."""
    parse_args = script("ppo_search").parse_args
    args = [*args, "--storage-path", str(tmp_path), "--out", str(tmp_path / "out")]
    args = [str(tmp_path / "out") if a == "DIR" else a for a in args]
    if "--resume" in args:
        with pytest.raises(SystemExit):
            parse_args(args)
        assert "nothing to resume" in capsys.readouterr().err
        return
    trial, numbers, _ = parse_args(args)
    assert trial.ppo == "paper" and numbers["samples"] >= 1


def test_the_search_examples_are_found():
    examples = search_examples()
    assert len(examples) == 2 and any("--resume" in e for e in examples)
    assert re.search(r"--timesteps 1e6", " ".join(map(" ".join, examples)))


@pytest.mark.parametrize("old, new", [
    ("rllib_iam.ppo.tune JsonLog", "rllib_iam.tune.trials JsonLog"),
    ("rllib_iam.ppo.tune CsvLog", "rllib_iam.tune.trials CsvLog"),
    ("rllib_iam.ppo.tune IntactRestore", "rllib_iam.tune.trials IntactRestore"),
    ("rllib_iam.grid Figure5Trial", "rllib_iam.grid Figure5Trial"),
    ("rllib_iam.ppo.wandb_log WandbLog", "rllib_iam.tune.wandb_log WandbLog"),
])
def test_what_an_older_experiment_pickled_still_unpickles(old, new):
    """``--resume`` of a grid started before Tune's logs moved to rllib_iam.tune: Tune's
    ``tuner.pkl`` holds the run's callbacks by their module path then."""
    import importlib
    import pickle

    if "wandb" in old:
        pytest.importorskip("wandb")
    module, name = old.split()
    found = pickle.loads(f"c{module}\n{name}\n.".encode())
    module, name = new.split()
    assert found is getattr(importlib.import_module(module), name)
