"""The analysis package on small hand-built Tune folders whose answers are known (no Ray)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figure5 import MODEL_COLOURS, _palette, curves, main, plot, write_report
from analysis.load import COLUMNS, AnalysisWarning, ResultsError, load_runs
from analysis.stats import (
    _degenerate,
    final_returns,
    improvement,
    interval_estimates,
    separation_p,
    table,
    verdict,
)
from rllib_iam.schema import TRIAL_NAME, trial_name

ROOT = Path(__file__).resolve().parent.parent
WAREHOUSE, TRAFFIC = "rllib_iam/Warehouse-v0", "rllib_iam/Traffic-v0"
STEP = 1024
REPS = 200
FINALS = {"iam": [20, 21, 22], "gru": [10, 11, 12], "lstm": [19.5, 20.5, 21.5],
          "fnn": [21, 21, 21], "fnn8": [15, 15, 16]}
"""Final returns per model and seed of the `grid` fixture: P(iam > gru) = 1, P(iam > lstm) = 6/9."""


def record(iteration: int, value: float, params: int = 200_000) -> dict:
    """One result.json line as rllib_iam.grid logs it (RLlib's own metrics beside it)."""
    transitions = iteration * STEP
    return {
        "training_iteration": iteration,
        "time_total_s": 2.0 * iteration,
        "env_runners": {"episode_return_mean": value,
                        "num_env_steps_sampled_lifetime": transitions},
        "figure5": {"transitions": transitions, "reference_steps": transitions / 8,
                    "episode_return_mean": value, "wall_time_s": 2.0 * iteration,
                    "transitions_per_s": 512.0, "params": params},
    }


def experiment(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")
    return folder


def trial(exp: Path, model: str, seed: int, returns, *, env: str = WAREHOUSE,
          budget: int | None = None, params_json: bool = True,
          model_config: dict | None = None) -> Path:
    folder = exp / f"{model}_seed{seed}"
    folder.mkdir(parents=True)
    budget = budget or STEP * len(returns)
    if params_json:
        config = {"model": model, "seed": seed, "env": env, "timesteps": budget, "ppo": "paper",
                  "decay_over": "paper"}
        if model_config is not None:
            config["model_config"] = model_config
        (folder / "params.json").write_text(json.dumps(config))
    lines = [json.dumps(record(i, r)) for i, r in enumerate(returns, 1)]
    (folder / "result.json").write_text("\n".join(lines) + "\n")
    return folder


def ramp(final: float, iterations: int = 10) -> list[float]:
    """A learning curve from 5 up to ``final``, flat over its last two iterations."""
    return [*np.linspace(5, final, iterations - 1)[:-1], final, final]


def build_grid(exp: Path, env: str = WAREHOUSE) -> Path:
    for model, finals in FINALS.items():
        for seed, final in enumerate(finals):
            trial(exp, model, seed, ramp(final), env=env)
    return exp


@pytest.fixture
def grid(tmp_path) -> Path:
    return build_grid(experiment(tmp_path / "storage" / "exp"))


def quiet_load(runs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnalysisWarning)
        return load_runs(runs)


def caught(function, *args) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always", AnalysisWarning)
        result = function(*args)
    return result, [str(w.message) for w in found if w.category is AnalysisWarning]


def test_load_gives_one_row_per_trial_and_iteration(grid):
    frame = quiet_load([str(grid)])
    assert len(frame) == 15 * 10
    assert set(COLUMNS) | {"model", "seed", "env", "trial", "budget", "complete"} <= set(frame)
    assert frame.groupby("model")["seed"].nunique().to_dict() == dict.fromkeys(FINALS, 3)
    assert (frame["reference_steps"] == frame["transitions"] / 8).all()
    assert frame["complete"].all()
    iam0 = frame[frame["trial"] == "exp/iam_seed0"]
    assert iam0["iteration"].tolist() == list(range(1, 11))
    assert iam0["episode_return_mean"].iloc[-1] == 20


def test_storage_folder_uri_and_repeated_folder_read_the_same_trials(grid):
    by_experiment = quiet_load([str(grid)])
    pd.testing.assert_frame_equal(quiet_load([str(grid.parent)]), by_experiment)
    pd.testing.assert_frame_equal(quiet_load([f"file://{grid}"]), by_experiment)
    pd.testing.assert_frame_equal(quiet_load([str(grid), str(grid.parent)]), by_experiment)


def test_a_parameter_matched_model_is_its_own_model_through_export_and_reload(tmp_path):
    default, matched = experiment(tmp_path / "blog"), experiment(tmp_path / "matched")
    trial(default, "gru", 0, ramp(12))
    trial(matched, "gru", 0, ramp(14), model_config={"param_budget": 214_401})
    trial(matched, "lstm", 0, ramp(13), model_config={"param_budget": 214_401})
    frame = quiet_load([str(default), str(matched)])  # same model and seed: not one trial
    assert sorted(frame["model"].unique()) == ["gru", "gru@214k", "lstm@214k"]
    finals = final_returns(frame).set_index("model")["final_return"]
    assert finals.to_dict() == {"gru": 12, "gru@214k": 14, "lstm@214k": 13}
    out = tmp_path / "tidy"
    subprocess.run([sys.executable, "-m", "analysis.export", str(matched), "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True)
    assert sorted(p.name for p in out.iterdir()) == ["gru@214k_seed0.csv.gz",
                                                     "lstm@214k_seed0.csv.gz"]
    assert sorted(quiet_load([str(out)])["model"].unique()) == ["gru@214k", "lstm@214k"]


def test_final_return_is_the_mean_over_the_last_tenth_of_the_budget(tmp_path):
    exp = experiment(tmp_path / "exp")
    trial(exp, "iam", 0, list(range(1, 21)))  # 20 iterations: the last 10% are 19 and 20
    finals = final_returns(quiet_load([str(exp)]))
    assert finals["final_return"].tolist() == [19.5]


def test_a_retried_iteration_is_counted_once_keeping_the_later_record(tmp_path):
    exp = experiment(tmp_path / "exp")
    folder = trial(exp, "iam", 0, [1, 2, 3, 4, 5], budget=6 * STEP)
    with open(folder / "result.json", "a") as f:  # restored from the checkpoint at 3
        f.writelines(json.dumps(record(i, 10 * i)) + "\n" for i in (4, 5, 6))
    frame, problems = caught(load_runs, [str(exp)])
    assert frame["iteration"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["episode_return_mean"].tolist() == [1, 2, 3, 40, 50, 60]
    assert problems == ["exp/iam_seed0: iteration(s) 4-5 logged more than once (restored "
                        "trial); each counted once, the later record kept"]


def test_damaged_folders_give_partial_results_and_one_named_warning_each(grid):
    truncated = grid / "iam_seed0" / "result.json"
    truncated.write_text(truncated.read_text()[:-40])  # a write cut off mid-line
    (grid / "gru_seed0" / "params.json").unlink()  # model and seed from the folder name
    odd = trial(grid, "x", 0, [1.0])
    odd.rename(grid / "odd-trial")
    (grid / "odd-trial" / "params.json").unlink()
    (grid / "never-started").mkdir()
    half = grid / "lstm_seed9" / "checkpoint_000001"  # a trial that died while checkpointing
    half.mkdir(parents=True)
    (half / "module_state.pt").write_bytes(b"\x00\x01")
    csv_only = trial(grid, "fnn8", 7, [1.0, 2.0, 3.0])
    pd.DataFrame([pd.json_normalize(record(i, v), sep="/").iloc[0] for i, v in
                  enumerate([1.0, 2.0, 3.0], 1)]).to_csv(csv_only / "progress.csv", index=False)
    (csv_only / "result.json").unlink()
    renamed = trial(grid, "fnn8", 8, [1.0])
    (renamed / "result.json").write_text(json.dumps({"training_iteration": 1, "reward": 3}))
    running = trial(grid, "fnn", 5, [1.0, 2.0], budget=10 * STEP)

    frame, problems = caught(load_runs, [str(grid)])
    expected = [
        ("exp/iam_seed0", "result.json line(s) 10 damaged (truncated write?); skipped"),
        ("exp/iam_seed0", "unfinished (9,216 of 10,240 transitions); drawn in the figure, "
                          "left out of the table"),
        ("exp/gru_seed0", "no readable params.json; model and seed taken from the folder name"),
        ("exp/odd-trial", "the folder name does not say model and seed; skipped"),
        ("exp/never-started", "empty trial folder (a trial that never started?); skipped"),
        ("exp/lstm_seed9", "no result.json and no readable progress.csv; skipped"),
        ("exp/fnn8_seed7", "no result.json; read progress.csv instead"),
        ("exp/fnn8_seed8", "results lack transitions: figure5/transitions or "
                           "env_runners/num_env_steps_sampled_lifetime; episode_return_mean:"),
        ("exp/fnn_seed5", "unfinished (2,048 of 10,240 transitions)"),
        (WAREHOUSE + " (paper PPO)", "trials have different budgets in transitions "
                                     "(3,072: fnn8; 10,240: fnn, fnn8, gru, iam, lstm)"),
    ]
    assert len(problems) == len(expected), problems
    for name, problem in expected:
        assert any(p.startswith(f"{name}: ") and problem in p for p in problems), (name, problems)
    assert "\n" not in "".join(problems)
    assert frame[frame["trial"] == "exp/iam_seed0"]["iteration"].max() == 9
    assert frame[frame["trial"] == "exp/fnn8_seed7"]["episode_return_mean"].tolist() == [1, 2, 3]
    assert running.name in set(frame["trial"].str.split("/").str[-1])
    t = table(frame, reps=REPS)
    assert t.set_index("model")["seeds"].to_dict() == {
        "iam": 2, "gru": 3, "lstm": 3, "fnn": 3, "fnn8": 4}  # fnn seed 5 has not finished


def test_the_same_seed_in_two_experiments_is_counted_once(tmp_path):
    storage = tmp_path / "storage"
    trial(experiment(storage / "a"), "iam", 0, [1.0, 2.0])
    trial(experiment(storage / "b"), "iam", 0, [1.0, 2.0, 3.0])
    frame, problems = caught(load_runs, [str(storage)])
    assert set(frame["trial"]) == {"b/iam_seed0"}
    assert problems == ["b/iam_seed0: same model and seed also in a/iam_seed0; counted once, "
                        "the trial that got furthest kept"]


def test_statistics_on_known_final_returns(grid):
    frame = quiet_load([str(grid)])
    state = np.random.get_state()[1].copy()
    poi = improvement(final_returns(frame), reps=REPS).set_index("versus")
    assert (np.random.get_state()[1] == state).all()  # rliable's global RNG left as it was
    assert poi.loc["gru", ["probability", "ci_low", "ci_high"]].tolist() == [1, 1, 1]
    assert poi.loc["lstm", "probability"] == pytest.approx(6 / 9)
    assert poi.loc["lstm", "ci_low"] <= 6 / 9 <= poi.loc["lstm", "ci_high"]
    assert poi.loc["fnn", "probability"] == pytest.approx(0.5)  # 20, 21, 22 against 21 x 3
    again = improvement(final_returns(frame), reps=REPS).set_index("versus")
    pd.testing.assert_frame_equal(poi, again)

    t = table(frame, reps=REPS).set_index("model")
    assert t.loc["iam", ["final_return", "iqm", "seeds"]].tolist() == [21, 21, 3]
    assert t.loc["iam", "std"] == pytest.approx(1.0)
    assert t.loc["iam", "ci95_low"] <= 21 <= t.loc["iam", "ci95_high"]
    assert t.loc["iam", ["paper", "reproduction"]].tolist() == [41.0, 38.6]
    assert t.index[0] == "fnn" and t.index[-1] == "gru"  # by final return, best first


def test_iqm_drops_the_outer_quartiles():
    finals = pd.DataFrame({"env": WAREHOUSE, "model": "iam", "seed": range(8),
                           "final_return": [1, 2, 3, 4, 5, 6, 7, 100]})
    row = interval_estimates(finals, reps=REPS).iloc[0]
    assert row["mean"] == 16 and row["iqm"] == 4.5
    assert row["iqm_ci_low"] <= 4.5 <= row["iqm_ci_high"] < row["mean_ci_high"]


def test_verdict_is_generated_from_the_numbers(grid):
    frame = quiet_load([str(grid)])
    t = table(frame, reps=REPS)
    text = verdict(t, improvement(final_returns(frame), reps=REPS))
    assert text.startswith("Warehouse at 10,240 transitions per trial")
    assert "With 3 seeds each, iam beats gru with probability 1.00: iam ended above gru in all " \
           "9 seed pairs, so every bootstrap resample gives 1.00 too and the 95% CI collapses " \
           "to [1.00, 1.00] (no measure of uncertainty); chance alone separates 3 seeds each " \
           "this completely with probability 0.100 (exact two-sided Mann-Whitney): too few " \
           "seeds to call it." in text
    assert "iam beats lstm with probability 0.67" in text
    assert "not distinguishable from a coin flip" in text
    assert "By IQM of the final return: fnn 21.00 > iam 21.00 > lstm 20.50" in text

    single = frame[frame["seed"] == 0]
    t1 = table(single, reps=REPS)
    text1 = verdict(t1, improvement(final_returns(single), reps=REPS))
    assert "a single seed on one side allows no interval; on these runs only, iam ended " \
           "above fnn8, gru, lstm and below fnn." in text1


def test_a_collapsed_interval_is_explained_and_judged_by_the_exact_test():
    assert separation_p(2, 2) == pytest.approx(1 / 3)  # 2 of the C(4, 2) = 6 orders
    assert separation_p(5, 5) == pytest.approx(2 / 252)
    assert separation_p(1, 1) == 1.0

    def said(n, m, probability):
        return _degenerate(pd.Series({"versus": "gru", "seeds": n, "seeds_versus": m,
                                      "probability": probability}), "iam")

    two = said(2, 2, 0.0)
    assert two.startswith("gru ended above iam in all 4 seed pairs, so every bootstrap resample")
    assert "collapses to [0.00, 0.00]" in two and "probability 0.333" in two
    assert two.endswith(": too few seeds to call it")
    assert said(5, 5, 1.0).endswith("probability 0.008 (exact two-sided Mann-Whitney): iam is "
                                    "ahead")
    assert said(4, 4, 0.5).startswith("all 16 seed pairs are ties")


def test_every_model_keeps_its_colour_whichever_others_are_drawn():
    alone = {m: _palette([m])[m] for m in [*MODEL_COLOURS, "gru@214k", "lstm@214k", "x", "y"]}
    together = _palette(list(alone))
    assert together == alone
    assert _palette(["iam", "gru@214k", "lstm@214k"]) == {
        m: alone[m] for m in ("iam", "gru@214k", "lstm@214k")}
    assert len(set(together.values())) == len(together)  # no two share a colour
    assert alone["gru@214k"] != alone["gru"]
    assert list(_palette(["fnn", "lstm@214k", "iam"])) == ["iam", "fnn", "lstm@214k"]
    two_variants = _palette(["gru@1k", "gru@2k"])
    assert two_variants["gru@1k"] != two_variants["gru@2k"]


def test_curves_are_resampled_onto_a_common_grid(tmp_path):
    exp = experiment(tmp_path / "exp")
    trial(exp, "iam", 0, [0.0, 2.0, 4.0, 6.0])
    trial(exp, "iam", 1, [2.0, 4.0], budget=4 * STEP)  # still running
    c, _ = caught(lambda: curves(load_runs([str(exp)])))
    assert c["x"].iloc[0] == STEP and c["x"].iloc[-1] == 4 * STEP and len(c) == 200
    at = c.set_index("x")
    assert at.loc[STEP, "mean"] == 1.0  # (0 + 2) / 2
    assert at.loc[STEP, "low"] == pytest.approx(1 - np.sqrt(2))  # ±1 std over the two seeds
    assert at.loc[4 * STEP, "mean"] == 6.0 and np.isnan(at.loc[4 * STEP, "low"])
    assert at.loc[4 * STEP, "seeds_present"] == 1


def test_figure_layout(tmp_path):
    storage = tmp_path / "storage"
    build_grid(experiment(storage / "warehouse"))
    build_grid(experiment(storage / "traffic"), env=TRAFFIC)
    fig = plot(quiet_load([str(storage)]), band="ci95", reps=REPS, style="paper")
    panels = [ax for ax in fig.axes if ax.get_title() and ax.get_visible()]
    what = ("paper PPO, lr and clip decayed on the paper's 32e6-transition clock; 10,240 "
            "transitions per trial; 3 seeds per model")
    assert [ax.get_title().replace("\n", " ") for ax in panels] == [
        f"Warehouse: {what}", "the last half, zoomed", f"Traffic: {what}",
        "the last half, zoomed"]
    left, right = panels[:2]
    assert right.get_xlim() == pytest.approx((5.12, 10.24))
    assert left.get_xlabel() == "environment transitions, thousands"
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    assert legend == ["iam (n=3)", "lstm (n=3)", "gru (n=3)", "fnn (n=3), final return",
                      "fnn8 (n=3), final return"]
    dashed = [line for line in left.get_lines() if line.get_linestyle() == "--"]
    assert sorted(line.get_ydata()[0] for line in dashed) == pytest.approx([15.333333, 21])
    def reference_names(ax) -> list[str]:
        return [t.get_text() for child in ax.child_axes for t in child.get_yticklabels()]

    assert reference_names(left) == ["random", "greedy/oracle"]  # close lines share a name
    traffic = [t for t in "/".join(reference_names(panels[2])).split("/") if t]
    assert "longest_queue" in traffic and "random" in traffic  # Traffic's own heuristics


def test_by_default_every_model_is_a_smoothed_curve_and_the_title_says_what_ran(tmp_path):
    """The default style draws the feedforward models as curves with bands too (the paper's
    dashed final-value lines are ``style="paper"``); the caption states the smoothing window;
    a right-hand panel that would repeat the left one is left out."""
    build_grid(experiment(tmp_path / "warehouse"))
    frame = quiet_load([str(tmp_path)])
    fig = plot(frame, reps=REPS)
    shown = [ax for ax in fig.axes if ax.get_title() and ax.get_visible()]
    legend = [t.get_text() for ax in shown if ax.get_legend()
              for t in ax.get_legend().get_texts()]
    assert legend == ["iam (n=3)", "lstm (n=3)", "gru (n=3)", "fnn (n=3)", "fnn8 (n=3)"]
    assert not any("final return" in label for label in legend)
    assert "averaged over the trailing 2% of its panel (Warehouse 184 environment " \
           "transitions" in fig._suptitle.get_text().replace("\n", " ")
    raw = plot(frame, reps=REPS, smooth=0)
    assert "each trial's return per iteration" in raw._suptitle.get_text().replace("\n", " ")
    # the synthetic ramps flatten in their last half: the zoom shows what the left one cannot
    assert [ax.get_title() for ax in shown][1:] == ["the last half, zoomed"]
    with pytest.raises(ValueError, match="style must be one of curves, paper"):
        plot(frame, style="dashed")
    flat = experiment(tmp_path / "flat" / "exp")  # noise without a trend: nothing to zoom on
    for seed in (0, 1):
        trial(flat, "iam", seed, [5.0, 50.0] * 5)
    fig = plot(quiet_load([str(tmp_path / "flat")]), reps=REPS, smooth=0)
    assert [ax.get_title()[:10] for ax in fig.axes if ax.get_visible() and ax.get_title()] \
        == ["Warehouse:"]


@pytest.mark.parametrize("runs, message", [
    (["missing"], "no such results folder"),
    (["ftp://host/runs"], "unsupported URI scheme 'ftp'"),
    (["empty"], "no Tune trials or tidy result files under"),
    (["junk"], "no Tune trials or tidy result files under"),
])
def test_bad_input_is_one_line_and_exit_2_with_nothing_written(runs, message, tmp_path, capsys,
                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk" / "notes").mkdir(parents=True)
    (tmp_path / "junk" / "notes" / "a.txt").write_text("not a trial")
    with pytest.raises(SystemExit) as exit_:
        main([*runs, "--out", "report"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("figure5: error: ")
    assert not (tmp_path / "report").exists()


def test_nothing_usable_names_every_trial_then_fails(tmp_path, capsys):
    exp = experiment(tmp_path / "exp")
    (exp / "iam_seed0").mkdir()
    (exp / "iam_seed0" / "result.json").write_text('{"training_iter')
    with pytest.raises(ResultsError, match="no usable trial results"):
        write_report([str(exp)], str(tmp_path / "report"))
    assert "warning: exp/iam_seed0: result.json line(s) 1 damaged" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_cli_writes_figure_tables_and_warnings(grid, tmp_path):
    (grid / "iam_seed2" / "params.json").unlink()
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "analysis.figure5", str(grid), "--out", str(out), "--reps", "50",
         "--axis", "reference-steps"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    written = {"figure5.png", "figure5.pdf", "table.csv", "table.md", "improvement.csv",
               "warnings.txt"}
    assert {p.name for p in out.iterdir()} == written
    assert all((out / name).stat().st_size > 0 for name in written)
    assert sorted(pd.read_csv(out / "table.csv")["model"]) == sorted(FINALS)
    assert run.stderr.strip().splitlines() == [
        "warning: exp/iam_seed2: no readable params.json; model and seed taken from the folder "
        "name, budget unknown"]
    assert ["Warehouse", "iam", "3", "0", "21.00"] in [r[:5] for r in markdown_rows(run.stdout)]
    assert "**Verdict**" in run.stdout
    assert (out / "table.md").read_text() in run.stdout


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in `text` (header and separator rows included)."""
    return [[c.strip() for c in line.strip()[1:-1].split("|")]
            for line in text.splitlines() if line.startswith("|") and line.endswith("|")]


def run_notebook(path: Path, parameters: dict) -> str:
    """Execute the notebook on a real kernel (nbclient), ``parameters`` injected after the cell
    tagged ``parameters`` as papermill does; returns what the cells printed."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.reads(path.read_text(), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(injected))
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(path.parent)}}).execute()
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)


@pytest.mark.slow
def test_notebook_default_folder_is_the_committed_results():
    """A fresh clone has no runs/: the notebook as shipped reads results/warehouse-blog."""
    printed = run_notebook(ROOT / "analysis" / "figure5.ipynb", {"REPS": 50})
    assert "warning:" not in printed
    assert "Warehouse at 4,000,768 transitions per trial" in printed
    assert "iam beats gru with probability 0.20" in printed


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(grid):
    (grid / "gru_seed1" / "params.json").unlink()
    printed = run_notebook(ROOT / "analysis" / "figure5.ipynb",
                           {"RUNS": [str(grid)], "REPS": 50})
    assert "warning: exp/gru_seed1: no readable params.json" in printed
    assert "Warehouse at 10,240 transitions per trial" in printed


@pytest.mark.parametrize("model", ["iam", "gru@214k", "iam_static", "fnn8"])
def test_the_grids_trial_names_parse_back_to_model_and_seed(model):
    """The grid names trials with `rllib_iam.schema.trial_name`; the analysis parses them with
    `TRIAL_NAME` (folders without a readable params.json)."""
    match = TRIAL_NAME.match(trial_name(model, 12))
    assert match and match["model"] == model and match["seed"] == "12"


def test_help_shows_defaults_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse's line wrapping undone
    assert exit_.value.code == 0
    assert "(default transitions)" in out and "(default std)" in out and "(default 2000)" in out
    assert "python -m analysis.figure5 results/warehouse-tuned --out" in out


def test_model_options_and_decay_clocks_label_trials_apart(tmp_path):
    """Two `iam` grids that differ only in ``--model-config`` are two models; a trial config
    from before ``decay_over`` was recorded decayed over its budget and is labelled so, apart
    from a grid on the paper's clock. Nothing is counted once as 'the same model and seed'."""
    plain, items, old = (experiment(tmp_path / name) for name in ("plain", "items", "old"))
    trial(plain, "iam", 0, ramp(20))
    trial(items, "iam", 0, ramp(22), model_config={"d_set": "items"})
    old_trial = trial(old, "iam", 0, ramp(18))
    config = json.loads((old_trial / "params.json").read_text())
    del config["decay_over"]
    (old_trial / "params.json").write_text(json.dumps(config))
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnalysisWarning)
        frame = load_runs([str(tmp_path)])
    labels = frame.groupby("model")["ppo"].first().to_dict()
    assert labels == {"iam": "paper", "iam (d_set=items)": "paper",
                      "iam (paper+decay=budget)": "paper+decay=budget"}
    finals = final_returns(frame).set_index("model")["final_return"]
    assert finals.round(6).to_dict() == {"iam": 20, "iam (d_set=items)": 22,
                                         "iam (paper+decay=budget)": 18}


def test_a_trial_that_failed_before_its_first_result_is_counted_not_hidden(tmp_path):
    """A trial folder holding only Tune's error files (it failed before any result): one
    warning each, in warnings.txt too, a ``failed`` count in its model's row (a row of its own
    where no trial of the model has results) and the verdict names it."""
    exp = experiment(tmp_path / "exp")
    for seed in (0, 1):
        trial(exp, "iam", seed, ramp(20 + seed))
    trial(exp, "lstm", 0, ramp(15))
    for name in ("lstm_seed1", "gru_seed0"):
        (exp / name).mkdir()
        (exp / name / "error.txt").write_text("Traceback (most recent call last):\n  ...\n"
                                              "RuntimeError: out of memory\n")
        (exp / name / "error.pkl").write_bytes(b"\x80\x04N.")
    out = tmp_path / "out"
    write_report([str(exp)], str(out), reps=50)
    warned = (out / "warnings.txt").read_text().splitlines()
    for name in ("lstm_seed1", "gru_seed0"):
        assert f"exp/{name}: failed before its first result (RuntimeError: out of memory); " \
               "counted as failed, no return" in warned
    t = pd.read_csv(out / "table.csv").set_index("model")
    assert t.loc["iam", ["seeds", "failed"]].tolist() == [2, 0]
    assert t.loc["lstm", ["seeds", "failed"]].tolist() == [1, 1]
    assert t.loc["gru", ["seeds", "failed"]].tolist() == [0, 1]
    assert np.isnan(t.loc["gru", "final_return"])
    report = (out / "table.md").read_text()
    assert "Failed, and missing from every number here: lstm (1 trial), gru (1 trial)." in report


def test_a_trial_that_failed_midway_counts_as_failed(tmp_path):
    exp = experiment(tmp_path / "exp")
    trial(exp, "iam", 0, ramp(20))
    cut = trial(exp, "iam", 1, ramp(20)[:4], budget=STEP * 10)
    (cut / "error.txt").write_text("ValueError: nan in the loss\n")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        frame = load_runs([str(exp)])
    t = table(frame, reps=50).set_index("model")
    assert t.loc["iam", ["seeds", "failed"]].tolist() == [1, 1]


def test_the_verdict_measures_each_env_against_its_own_paper_budget(tmp_path):
    """Warehouse's paper budget is 32e6 transitions, Traffic's 16e6 (their EnvSpec profiles)."""
    build_grid(experiment(tmp_path / "warehouse"))
    build_grid(experiment(tmp_path / "traffic"), env=TRAFFIC)
    frame = quiet_load([str(tmp_path)])
    t = table(frame, REPS)
    text = verdict(t, improvement(final_returns(frame), reps=REPS))
    assert "Warehouse at 10,240 transitions per trial (0.032% of the paper's 32e6)." in text
    assert "Traffic at 10,240 transitions per trial (0.064% of the paper's 16e6)." in text


def test_the_memory_gap_is_the_twins_return_minus_each_pomdp_models(tmp_path, capsys):
    from analysis.gap import main as gap_main

    pomdp = experiment(tmp_path / "pomdp" / "exp")
    for seed, final in enumerate((20, 22)):
        trial(pomdp, "fnn", seed, ramp(final))
        trial(pomdp, "gru", seed, ramp(final - 6))
    twin = experiment(tmp_path / "twin" / "exp")
    for seed, final in enumerate((24, 26)):
        trial(twin, "fnn", seed, ramp(final), env="rllib_iam/WarehouseTwin-v0")
    assert gap_main([str(tmp_path / "twin"), str(tmp_path / "pomdp")]) == 0
    rows = {r[1]: r for r in markdown_rows(capsys.readouterr().out)}
    assert rows["fnn"][:4] == ["Warehouse", "fnn", "2", "21.00"]
    assert rows["fnn"][-1] == "4.00" and rows["gru"][-1] == "10.00"
    assert rows["gru"][4] == "Warehouse, ages observed, fnn"
    with pytest.raises(SystemExit) as exit_:
        gap_main([str(tmp_path / "twin"), str(tmp_path / "pomdp"), "--model", "lstm"])
    assert exit_.value.code == 2
    assert "no finished lstm trial among the twin's runs" in capsys.readouterr().err
