"""Traffic through the command a user types: the smoke grid, its figure, the lower panel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.figure5 import load_runs, plot
from rllib_iam import TRAFFIC_ID
from rllib_iam.grid import FIGURE5, default_models_for, profiles_for
from rllib_iam.heuristics import TRAFFIC_CSV, load_reference
from rllib_iam.training import paper_ppo_for

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("iam", "fnn32")
"""Two of the five default models, to keep the suite short: the Traffic-specific paths (the
d-set, BPTT 32, 32 stacked frames); lstm, gru and fnn share their code with these."""


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    storage = tmp_path_factory.mktemp("storage")
    run = subprocess.run(
        [sys.executable, "experiments/figure5.py", "--env", TRAFFIC_ID, "--profile", "smoke",
         "--models", ",".join(MODELS), "--storage-path", str(storage), "--name", "traffic"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if run.returncode != 0:
        raise AssertionError(f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return storage / "traffic"


def test_traffic_settings_for_the_grid():
    assert default_models_for(TRAFFIC_ID) == ("iam", "lstm", "gru", "fnn", "fnn32")
    ppo = paper_ppo_for(TRAFFIC_ID)
    assert (ppo.gae_horizon, ppo.max_seq_len, ppo.num_envs, ppo.rollout_fragment_length,
            ppo.minibatch_size, ppo.num_epochs) == (128, 32, 8, 128, 256, 3)
    profiles = profiles_for(TRAFFIC_ID)
    assert profiles["paper"].timesteps == 2_000_000 * 8  # 2e6 reference steps of 8 envs
    assert profiles["smoke"].timesteps == 2 * 1024


def test_smoke_grid_on_traffic_trains_each_model(smoke):
    for model in MODELS:
        trial = smoke / f"{model}_seed0"
        lines = (trial / "result.json").read_text().splitlines()
        assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2], model
        assert list(trial.glob("checkpoint_*")), model
        record = json.loads(lines[-1])[FIGURE5]
        assert record["transitions"] == 2048
        assert -150 < record["episode_return_mean"] < 0, model  # 250 steps of -0.6 .. 0
        assert json.loads((trial / "params.json").read_text())["env"] == TRAFFIC_ID
    table = pd.read_csv(smoke / "figure5" / "table.csv")
    assert sorted(table["model"]) == sorted(MODELS)
    assert (smoke / "figure5" / "figure5.png").stat().st_size > 0


def test_the_analysis_draws_traffic_as_the_lower_panel(smoke, tmp_path):
    from tests.test_analysis import build_grid, experiment

    warehouse = build_grid(experiment(tmp_path / "warehouse"))
    frame = load_runs([str(warehouse), str(smoke)])
    fig = plot(frame, style="paper")
    panels = [ax for ax in fig.axes if ax.get_title() and ax.get_visible()]
    whole = [ax for ax in panels if not ax.get_title().startswith("the last half")]
    assert [ax.get_title().split(":")[0] for ax in whole] == ["Warehouse", "Traffic"]
    assert "16e6" not in whole[1].get_title() and "2,048 transitions per trial" in \
        whole[1].get_title().replace("\n", " ")
    lower = whole[1]
    labels = [line.get_label() for line in lower.get_lines()]
    assert any(label.startswith("fnn32 (n=1)") for label in labels)  # dashed final return
    assert any(label.startswith("iam (n=1)") for label in labels)
    names = [t.get_text() for child in lower.child_axes for t in child.get_yticklabels()]
    committed = load_reference(TRAFFIC_CSV)
    expected = [p for _, p in sorted((v, p) for (p, quirks), v in committed.items() if quirks)]
    assert "/".join(names).split("/") == expected
