"""Which cluster node ran which trial of an experiment, from Ray's state API.

    python cluster/trial_nodes.py runs/figure5-paper [--address http://127.0.0.1:8265]

Run it while the cluster that ran the experiment is still up, against its dashboard (the
``ray dashboard`` tunnel or ``kubectl port-forward``; ``RAY_ADDRESS`` or ``--address``), with the
cluster's token in the environment (``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH``). Each
trial's ``result.json`` names the process that wrote it (Tune's ``node_ip`` and ``pid``); the
cluster's actor table, which keeps finished actors, maps that process to its node id. Writes
``EXPERIMENT/trial_nodes.json`` (``{trial: {"node_ids": [...], "node_ips": [...], "pids": [...]}}``,
one entry per process the trial ran in: more than one after a restart) and prints one line per
trial. EXPERIMENT is a local folder (fetch a cloud experiment first, cluster/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def trial_processes(experiment: Path) -> dict[str, list[tuple[str, int]]]:
    """``{trial folder name: [(node_ip, pid), ...]}`` in the order the processes first reported."""
    trials: dict[str, list[tuple[str, int]]] = {}
    for result in sorted(experiment.glob("*/result.json")):
        seen: list[tuple[str, int]] = []
        for line in result.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            key = (str(record["node_ip"]), int(record["pid"]))
            if key not in seen:
                seen.append(key)
        trials[result.parent.name] = seen
    return trials


def node_of_process(address: str) -> dict[tuple[str, int], str]:
    """``{(node_ip, pid): node_id}`` for every actor the cluster knows, finished ones included."""
    from ray.util.state import list_actors, list_nodes

    ips = {n.node_id: n.node_ip for n in list_nodes(address=address, limit=10_000)}
    actors = list_actors(address=address, limit=10_000, raise_on_missing_output=False)
    return {(ips.get(a.node_id, ""), int(a.pid)): a.node_id for a in actors if a.pid}


def trial_nodes(experiment: Path, address: str) -> dict[str, dict[str, list]]:
    where = node_of_process(address)
    table = {}
    for trial, processes in trial_processes(experiment).items():
        table[trial] = {
            "node_ids": [where.get(p) for p in processes],
            "node_ips": [ip for ip, _ in processes],
            "pids": [pid for _, pid in processes],
        }
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path, help="local experiment folder <storage>/<name>")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="dashboard URL (default: RAY_ADDRESS)")
    args = parser.parse_args(argv)
    if not args.address:
        parser.error("no cluster address: pass --address or set RAY_ADDRESS")
    if not any(args.experiment.glob("*/result.json")):
        parser.error(f"no trial results (*/result.json) in {args.experiment}")
    table = trial_nodes(args.experiment, args.address)
    (args.experiment / "trial_nodes.json").write_text(json.dumps(table, indent=2) + "\n")
    for trial, where in table.items():
        nodes = ", ".join(str(n) for n in where["node_ids"])
        print(f"{trial}\t{nodes}\t{', '.join(where['node_ips'])}")
    missing = [t for t, w in table.items() if None in w["node_ids"]]
    if missing:
        print(f"no node found for {', '.join(missing)} (cluster restarted?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
