"""The fence: private RLlib/Tune/torch names only in rllib_iam/ppo/, rllib_iam/tune/ and
rllib_iam/models/train_mode.py, a Ray version check on importing the two packages (not the
models), docs/internals.md naming what is used there, and no import cycle."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rllib_iam"
FENCE = (PACKAGE / "ppo", PACKAGE / "tune", PACKAGE / "models" / "train_mode.py")
"""The fenced places: two packages and the models' train-mode mixin (torch's only)."""
PRIVATE = re.compile(r"\._([a-z]\w*)")
DEFINED = re.compile(r"(?:^|def |self\.|cls\.)_([a-z]\w*)\s*(?:\(|=|:)", re.M)


def fenced(path: Path) -> bool:
    return any(path == place or place in path.parents for place in FENCE)


def inside_fence() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if fenced(p)]


def outside_fence() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if not fenced(p)]


def test_outside_the_fence_every_private_name_is_the_projects_own():
    """A ``._name`` used outside the fence must be defined by the project outside it
    (``def _name``, ``self._name = ...``, a module's ``_name = ...``): otherwise it is
    RLlib's, Tune's or torch's."""
    defined = set()
    for path in outside_fence():
        defined |= set(DEFINED.findall(path.read_text()))
    foreign = {}
    for path in outside_fence():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in PRIVATE.findall(line.split("#")[0]):
                if name not in defined:
                    foreign.setdefault(f"_{name}", []).append(
                        f"{path.relative_to(ROOT)}:{number}")
    assert not foreign, f"private names of other libraries outside the fence: {foreign}"


def test_outside_the_fence_nothing_private_is_imported_from_ray_or_torch():
    imported = re.compile(r"^from (?:ray|torch)\S* import .*\b_[A-Za-z]", re.M)
    for path in outside_fence():
        assert not imported.search(path.read_text()), path


def test_no_object_setattr_outside_the_fence():
    for path in outside_fence():
        assert "object.__setattr__" not in path.read_text(), path


def test_the_fence_rule_would_catch_a_private_ray_name():
    """The check above is not vacuous: RLlib's own private attributes used in the fence are
    not defined by the project."""
    defined = set()
    for path in outside_fence():
        defined |= set(DEFINED.findall(path.read_text()))
    used = set(PRIVATE.findall((PACKAGE / "ppo" / "sampling.py").read_text()))
    assert {"ongoing_episodes", "try_env_step", "cached_to_module"} <= used - defined


def test_the_docs_list_every_fenced_file_and_the_private_names_of_tune():
    doc = (ROOT / "docs/internals.md").read_text()
    for name in ("ppo/sampling.py", "ppo/learner.py", "ppo/padding.py", "ppo/minibatches.py",
                 "ppo/quiet.py", "tune/trials.py", "tune/wandb_log.py", "models/train_mode.py"):
        assert f"`{name}`" in doc, name
        assert fenced(PACKAGE / name) and (PACKAGE / name).is_file(), name
    for name in ("_time_total", "_restore_from_remote", "_local_tuner", "_sample",
                 "_WandbLoggingActor", "_logger_actor_cls",
                 "_learner_connector", "_added_loss_mask_for_valid_episode_ts"):
        assert name in doc, name


def test_the_docs_name_every_private_name_used_in_the_fence():
    """Each ``._name`` a fenced file uses that the project does not define is RLlib's, Tune's or
    torch's, and docs/internals.md says where and why (what a Ray upgrade must check)."""
    defined = set()
    for path in PACKAGE.rglob("*.py"):
        defined |= set(DEFINED.findall(path.read_text()))
    doc = (ROOT / "docs/internals.md").read_text()
    missing = {
        path.name: sorted(f"_{n}" for n in set(PRIVATE.findall(path.read_text())) - defined
                          if f"_{n}" not in doc)
        for path in inside_fence()
    }
    assert not any(missing.values()), missing


def test_another_ray_version_is_refused_with_the_pin_or_tried_with_a_warning():
    from rllib_iam.ray_version import SUPPORTED_RAY, check_ray_version

    check_ray_version(SUPPORTED_RAY, override="")
    with pytest.raises(ImportError, match=r"needs Ray 2\.60\.0, found 2\.99\.0.*==2\.60\.0"):
        check_ray_version("2.99.0", override="")
    with pytest.warns(UserWarning, match="trying anyway"):
        check_ray_version("2.99.0", override="1")
    requirements = (ROOT / "requirements.txt").read_text()
    assert f"ray[rllib,default]=={SUPPORTED_RAY}" in requirements


def import_graph() -> dict[str, set[str]]:
    """Module -> the rllib_iam modules it imports, deferred (in-function) imports included;
    a package's own parents are left out (importing ``rllib_iam.x`` runs ``rllib_iam``)."""
    import ast

    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path

    def resolve(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rllib_iam"):
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("rllib_iam")]
            else:
                continue
            for target in map(resolve, targets):
                if target and not (name.startswith(target + ".") or target == name
                                   or target.startswith(name + ".")):
                    graph[name].add(target)
    return graph


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "rllib_iam.gridspec" in graph["rllib_iam.grid"]  # the graph sees real edges
    seen, done, cycles = set(), set(), []

    def visit(node: str, path: list[str]) -> None:
        seen.add(node)
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in done and nxt not in seen:
                visit(nxt, [*path, nxt])
        done.add(node)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not cycles, cycles


MODELS_ALONE = """
import json, sys
import ray, ray.rllib
rllib = set(sys.modules)
ray.__version__ = "0.0.1"
import rllib_iam.models
print(json.dumps([sorted(rllib), sorted(sys.modules)]))
"""


def test_the_models_import_no_learner_no_tune_and_check_no_ray_version():
    """Models are below PPO and Tune: importing them loads none of the fence's packages, no
    learner, and no part of Tune that RLlib itself does not load (``import ray.rllib`` imports
    some of ``ray.tune``); under another Ray version they still import."""
    import json

    run = subprocess.run([sys.executable, "-c", MODELS_ALONE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    rllib, models = map(set, json.loads(run.stdout.splitlines()[-1]))
    assert "rllib_iam.models.iam" in models  # the import ran
    added = models - rllib
    assert not {m for m in added if m == "ray.tune" or m.startswith("ray.tune.")}, added
    assert not {m for m in added if "learner" in m}, added
    fence = {m for m in models if m.startswith(("rllib_iam.ppo", "rllib_iam.tune",
                                                "rllib_iam.ray_version"))}
    assert not fence, sorted(fence)
