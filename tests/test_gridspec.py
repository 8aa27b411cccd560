"""The typed grid spec: flags resolved once, saved with the experiment, compared on resume,
and every documented `figure5.py` example accepted as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from rllib_iam.gridspec import (
    SPEC_FILE,
    GridSpec,
    GridSpecError,
    resume_conflict,
    save,
    stored_shape,
)
from rllib_iam.training import ppo_settings

ROOT = Path(__file__).resolve().parent.parent


def test_from_flags_fills_in_the_profile_and_derives_the_layout_once(tmp_path):
    spec = GridSpec.from_flags(profile="smoke", models="fnn,iam", storage_path=str(tmp_path))
    assert spec.models == ("fnn", "iam") and spec.seed_list == [0]
    assert spec.timesteps == 2048 and spec.num_envs == 8 and spec.name == "figure5-smoke"
    tuned = GridSpec.from_flags(ppo="tuned", models="fnn", seeds="2", first_seed="3",
                                timesteps="1e6", storage_path=str(tmp_path))
    assert tuned.num_envs == ppo_settings(ppo="tuned").num_envs == 32
    assert tuned.seed_list == [3, 4] and tuned.timesteps == 1_000_000
    assert tuned.trial_space() == {"env": "rllib_iam/Warehouse-v0", "timesteps": 1_000_000,
                                   "ppo": "tuned", "decay_over": "paper", "num_env_runners": 0}
    assert not (tmp_path / "figure5-quick").exists()  # checking never writes


def test_the_saved_spec_reads_back_to_the_same_shape_and_catches_a_contradiction(tmp_path):
    spec = GridSpec.from_flags(models="iam", param_budget="100000", decay_over="4e6",
                               ppo_config='{"adam_eps": 1e-5}', storage_path=str(tmp_path),
                               name="g")
    (tmp_path / "g").mkdir()
    save(spec)
    record = json.loads((tmp_path / "g" / SPEC_FILE).read_text())
    assert record["models"] == ["iam"] and record["model_config"] == {"param_budget": 100000}
    assert record["decay_over"] == 4_000_000 and "given" not in record
    assert stored_shape(str(tmp_path / "g")) == spec.shape()
    # before any trial wrote its params.json, the saved spec still guards a resume
    (tmp_path / "g" / "tuner.pkl").write_bytes(b"")
    other = GridSpec(**{**{k: getattr(spec, k) for k in spec.__dataclass_fields__},
                        "models": ("gru",), "given": frozenset({"--models"})})
    assert resume_conflict(other, stored_shape(str(tmp_path / "g"))) == (
        "--models asks for models gru (stored: iam)")
    unasked = GridSpec(**{**{k: getattr(spec, k) for k in spec.__dataclass_fields__},
                          "models": ("gru",), "given": frozenset()})
    assert resume_conflict(unasked, stored_shape(str(tmp_path / "g"))) is None


def test_a_grid_without_a_saved_spec_or_trials_has_nothing_to_compare(tmp_path):
    (tmp_path / "old").mkdir()
    assert stored_shape(str(tmp_path / "old")) is None
    (tmp_path / "old" / SPEC_FILE).write_text('{"models": ["fnn"]}')  # another version's
    assert stored_shape(str(tmp_path / "old")) is None


@pytest.mark.parametrize("flags, message", [
    ({"models": "iam,iam"}, "--models lists a model twice"),
    ({"name": "a/b"}, "--name must be a plain folder name"),
    ({"timesteps": "0"}, "argument --timesteps: must be a positive integer"),
    ({"max_concurrent": "x"}, "argument --max-concurrent: must be a positive integer"),
])
def test_bad_flags_are_one_line_errors(flags, message, tmp_path):
    with pytest.raises(GridSpecError, match=re.escape(message)) as err:
        GridSpec.from_flags(storage_path=str(tmp_path), **flags)
    assert "\n" not in str(err.value)


def documented_examples() -> list[tuple[str, list[str]]]:
    """Every ``python experiments/figure5.py ...`` line of the README, of the docs and of the
    script's own help, continuation lines joined and comments dropped, as (where, arguments)."""
    sources = {path.relative_to(ROOT).as_posix(): path.read_text()
               for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    sources["figure5.py --help"] = (ROOT / "experiments/figure5.py").read_text().split('"""')[1]
    examples = []
    for where, text in sources.items():
        text = re.sub(r"\\\n\s*", " ", text)
        for line in text.splitlines():
            if "python experiments/figure5.py" not in line or "my_envs" in line:
                continue  # my_envs: the docs' example of a user's own module
            command = line.split("python experiments/figure5.py", 1)[1].split("#")[0]
            args = shlex.split(command.split("`")[0])
            if "..." in args:  # prose about the command (an argument left out), not an example
                continue
            examples.append((where, args))
    return examples


def test_the_documented_examples_are_found():
    examples = documented_examples()
    assert len(examples) >= 12
    assert any("--param-budget" in args for _, args in examples)
    assert any("--resume" in args for _, args in examples)


@pytest.mark.parametrize("where, args", documented_examples(),
                         ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_every_documented_example_passes_the_scripts_validation(where, args, tmp_path, capsys,
                                                                monkeypatch):
    """Through the script's own flag parsing and the spec's checks, storage in a temporary
    folder: a ``--resume`` example may only fail for want of an experiment to resume. The
    examples' own models (``PYTHONPATH=examples``) are importable, as those lines run them."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / "examples"))

    module_spec = importlib.util.spec_from_file_location("figure5_examples",
                                                         ROOT / "experiments/figure5.py")
    script = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(script)
    args = list(args)
    if "--storage-path" in args:
        args[args.index("--storage-path") + 1] = str(tmp_path)
    else:
        args += ["--storage-path", str(tmp_path)]
    if "--resume" in args:
        with pytest.raises(SystemExit):
            script.parse_args(args)
        assert "nothing to resume" in capsys.readouterr().err
        return
    if "--status" in args:  # it reads a grid: here, an empty storage folder
        with pytest.raises(SystemExit):
            script.parse_args(args)
        assert "no experiments in" in capsys.readouterr().err
        return
    spec, *_ = script.parse_args(args)
    assert spec.storage_path == str(tmp_path)
