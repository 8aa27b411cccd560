"""The Traffic task's SUMO scenario, written by the project: network, routes, SUMO options.

The network is built from the plain node, edge, type and connection files below by SUMO's
``netconvert`` (from the pinned ``eclipse-sumo`` wheel) the first time it is needed, and kept in
a cache folder keyed by the SUMO version and the files' hash; nothing is downloaded. netconvert
1.28 gives the reference's lane lengths, link order and default light program (GGrr 42, yyrr 3,
rrGG 42, rryy 3 s), which the environment overrides on every step anyway.

Routes: six cars depart at t = 0..5 s, each on route ``A`` or ``B`` (docs/spec/traffic.md);
with two routes per slot there are only 64 route files, written on demand next to the network.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

TLS_ID = "0"
N_CARS = 6
"""``car_tm``: insertion slots t = 0..5 s, one car each (``car_pr`` = 1.0)."""
CAR_PROBABILITY = 1.0
CIRCUIT = ["L67", "L68", "L61", "L62", "L63", "L64", "L65", "L66"]
"""The figure eight C: straight through the light both ways (links 1 and 2 are never used)."""


def _loop(first: str, n_edges: int) -> list[str]:
    start = CIRCUIT.index(first)
    return [CIRCUIT[(start + k) % len(CIRCUIT)] for k in range(n_edges)]


ROUTES: dict[str, list[str]] = {"A": _loop("L67", 36), "B": _loop("L63", 44)}
"""A: from L67, 36 edges, ends at L62's end; B: from L63, 44 edges, ends at L66's end."""

NODE_XY = {0: (40, 40), 2: (40, 0), 3: (0, 0), 4: (0, 40), 5: (100, 40), 6: (100, 100),
           7: (40, 100)}
"""Node -> (x, y) in metres; node 0 is the traffic light."""
NODES = "<nodes>\n" + "".join(
    f'    <node id="{n}" x="{x}" y="{y}" type="{"traffic_light" if n == 0 else "priority"}"/>\n'
    for n, (x, y) in NODE_XY.items()
) + "</nodes>\n"
TYPES = """<types>
    <type id="road" numLanes="1" speed="8.3" priority="3" width="3.2"/>
</types>
"""
EDGE_ENDS = [("L61", 0, 2), ("L62", 2, 3), ("L63", 3, 4), ("L64", 4, 0),
             ("L65", 0, 5), ("L66", 5, 6), ("L67", 6, 7), ("L68", 7, 0)]
"""(edge, from node, to node)."""
EDGES = "<edges>\n" + "".join(
    f'    <edge id="{e}" from="{a}" to="{b}" type="road"/>\n' for e, a, b in EDGE_ENDS
) + "</edges>\n"
_CONNECTIONS = [("L61", "L62"), ("L62", "L63"), ("L63", "L64"), ("L64", "L61"), ("L64", "L65"),
                ("L65", "L66"), ("L66", "L67"), ("L67", "L68"), ("L68", "L61"), ("L68", "L65")]
CONNECTIONS = "<connections>\n" + "".join(
    f'    <connection from="{a}" to="{b}" fromLane="0" toLane="0" speed="8.3"/>\n'
    for a, b in _CONNECTIONS
) + "</connections>\n"
SOURCES = {"loop.nod.xml": NODES, "loop.edg.xml": EDGES, "loop.typ.xml": TYPES,
           "loop.con.xml": CONNECTIONS}


def sumo_home() -> str:
    """SUMO's data folder inside the ``eclipse-sumo`` wheel (no system SUMO needed)."""
    try:
        import sumo
    except ImportError as err:
        raise RuntimeError(
            "Traffic needs SUMO: pip install -r requirements.txt (eclipse-sumo, libsumo)"
        ) from err
    return sumo.SUMO_HOME


def binary(name: str) -> str:
    """Path of a SUMO program (``sumo``, ``netconvert``) from the wheel."""
    return os.path.join(sumo_home(), "bin", name)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rllib-iam/sumo-<version>-<hash>`` (or ``~/.cache``), else a temp folder."""
    digest = hashlib.sha256("".join(SOURCES[k] for k in sorted(SOURCES)).encode()).hexdigest()
    name = f"sumo-{version('eclipse-sumo')}-{digest[:12]}"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rllib-iam"
    for root in (base, Path(tempfile.gettempdir()) / "rllib-iam"):
        try:
            (root / name).mkdir(parents=True, exist_ok=True)
            probe = root / name / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return root / name
        except OSError:
            continue
    raise RuntimeError("no writable cache folder for the SUMO network (tried ~/.cache and /tmp)")


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temp file and a rename, so concurrent processes never read half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def network_file() -> Path:
    """The ``.net.xml``, built by netconvert from `SOURCES` at first use and cached."""
    folder = cache_dir()
    net = folder / "loop.net.xml"
    if net.is_file():
        return net
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for name, text in SOURCES.items():
            Path(tmp, name).write_text(text)
        out = Path(tmp, "loop.net.xml")
        run = subprocess.run(
            [binary("netconvert"), "--node-files", "loop.nod.xml", "--edge-files",
             "loop.edg.xml", "--type-files", "loop.typ.xml", "--connection-files",
             "loop.con.xml", "--output-file", out.name, "--no-warnings"],
            cwd=tmp, capture_output=True, text=True,
            env={**os.environ, "SUMO_HOME": sumo_home()},
        )
        if run.returncode != 0 or not out.is_file():
            raise RuntimeError(f"netconvert failed: {run.stderr.strip() or run.stdout.strip()}")
        os.replace(out, net)
    return net


def draw_routes(seed: int) -> str:
    """The reference's draws for one episode: a string of ``A``/``B``, one per car.

    ``random.seed(seed)``, then per slot ``randint(0, 100)`` (the car_pr test, always passed
    at car_pr = 1), ``choice(range(1, 2))`` (one car) and ``choice([A, B])``, in that order.
    """
    rng = random.Random(seed)
    cars = []
    for _ in range(N_CARS):
        car = rng.randint(0, 100) <= 100 * CAR_PROBABILITY
        rng.choice(range(1, 2))
        route = rng.choice(["A", "B"])
        if car:
            cars.append(route)
    return "".join(cars)


def route_file(routes: str) -> Path:
    """The route file for a draw such as ``"ABBAAB"`` (car k departs at t = k s)."""
    if not routes or set(routes) - set(ROUTES):
        raise ValueError(f"routes must be a non-empty string of A/B, got {routes!r}")
    path = cache_dir() / f"loop-{routes}.rou.xml"
    if not path.is_file():
        lines = ["<routes>"]
        lines += [f'    <route id="{r}" edges="{" ".join(edges)}"/>' for r, edges in ROUTES.items()]
        lines += [f'    <vehicle id="car{t}" route="{r}" depart="{t}"/>'
                  for t, r in enumerate(routes)]
        _write_atomic(path, "\n".join([*lines, "</routes>", ""]))
    return path


def sumo_args(routes: str, seed: int) -> list[str]:
    """SUMO's options for one episode (without the program name)."""
    return [
        "--net-file", str(network_file()),
        "--route-files", str(route_file(routes)),
        "--seed", str(seed),
        "--default.departspeed", "0",
        "--default.speeddev", "0",
        "--step-length", "1",
        "--no-step-log", "true",
        "--no-warnings", "true",
        "--duration-log.disable", "true",
    ]
