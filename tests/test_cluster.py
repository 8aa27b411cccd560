"""cluster/: the launcher configs through Ray's own validation, the KubeRay manifests, the image,
the job runtime_env, and the grid submitted with `ray job submit` to a real two-node Ray cluster
on this machine with token authentication on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from rllib_iam.grid import DEFAULT_MODELS, PROFILES

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "cluster"
LAUNCHER_CONFIGS = ("aws.yaml", "gcp.yaml", "local.yaml")
KUBERAY = ("kuberay/rayjob.yaml", "kuberay/raycluster.yaml")
IMAGE = f"rayproject/ray:{ray.__version__}-py311-cpu"
PAPER_TRIALS = PROFILES["paper"].seeds * len(DEFAULT_MODELS)
BIN = Path(sys.executable).parent


def load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


def prepared(name: str) -> dict:
    """What `ray up` validates: the config merged with the provider's defaults."""
    return prepare_config(load(name))


def start_commands(config: dict) -> list[str]:
    return [*config["head_start_ray_commands"], *config["worker_start_ray_commands"]]


# ----------------------------------------------------------------------------- launcher configs


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_passes_rays_validation(name):
    validate_config(prepared(name))


def test_rays_validation_catches_a_misspelt_field():
    config = load("aws.yaml")
    config["idle_timeout_minute"] = 10
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(config))
    config = load("gcp.yaml")
    config["available_node_types"]["cpu16"]["max_workers"] = "four"
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(config))


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_launcher_config_runs_the_pinned_image_with_the_project_and_token_auth(name):
    config = prepared(name)
    assert config["docker"]["image"] == IMAGE
    assert "--env RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    setup = " ".join(config["setup_commands"])
    assert "-r ~/rllib-iam/requirements.txt" in setup and "-e ~/rllib-iam" in setup
    # The token comes from a file outside the checkout, is copied to Ray's default path, and
    # every Ray process is started with token authentication on.
    mounts = config["file_mounts"]
    assert mounts["~/.ray/auth_token"].startswith("~/")
    assert mounts["~/rllib-iam"] == "."
    assert {".git", ".venv", "runs"} <= set(config["rsync_exclude"])
    starts = [c for c in start_commands(config) if "ray start" in c]
    assert len(starts) == 2 and all("RAY_AUTH_MODE=token ray start" in c for c in starts)
    # The dashboard and job API listen on the head's loopback (reached through an SSH tunnel).
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])


@pytest.mark.parametrize("name", LAUNCHER_CONFIGS)
def test_no_launcher_config_opens_anything_to_the_internet(name):
    config = prepared(name)
    assert "0.0.0.0" not in json.dumps(config)  # no open CIDR, no dashboard on all interfaces
    assert "security_group" not in config["provider"]  # no extra inbound rules
    nodes = config["available_node_types"].values()
    if config["provider"]["type"] == "aws":
        # Without SecurityGroupIds the launcher creates a group with SSH open to 0.0.0.0/0.
        assert all(n["node_config"].get("SecurityGroupIds") for n in nodes)
    if config["provider"]["type"] == "gcp":
        # Without networkInterfaces it picks the project's first subnet (usually `default`,
        # whose default-allow-ssh rule is open to the world).
        for node in nodes:
            (interface,) = node["node_config"]["networkInterfaces"]
            assert interface["subnetwork"].endswith("/subnetworks/rllib-iam-ray")
            assert node["node_config"]["tags"]["items"] == ["rllib-iam-ray"]


UBUNTU_SSM = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"


def test_aws_nodes_boot_a_named_current_ubuntu_and_install_docker_first():
    """Without an ImageId the launcher falls back to its built-in Deep Learning AMI (Ubuntu
    18.04), long retired; the config names Canonical's public SSM parameter instead, and, that
    image having no Docker, installs Ubuntu's docker.io before the `docker:` section needs it."""
    config = prepared("aws.yaml")
    for node in config["available_node_types"].values():
        assert node["node_config"]["ImageId"] == f"resolve:ssm:{UBUNTU_SSM}"
        assert node["node_config"]["BlockDeviceMappings"][0]["DeviceName"] == "/dev/sda1"
    init = " ".join(config["initialization_commands"])
    assert "apt-get install -y -q docker.io" in init and "usermod -aG docker" in init
    assert UBUNTU_SSM in (CLUSTER / "aws.yaml").read_text().split("ImageId:")[0]  # the comment
    assert "ssm:GetParameters" in (CLUSTER / "README.md").read_text()


def test_gcp_nodes_boot_the_ubuntu_image_family_and_install_docker_first():
    """The GCP nodes name Canonical's public Ubuntu 22.04 family, which has no Docker, so the
    config installs docker.io before the `docker:` section needs it (as on AWS)."""
    config = prepared("gcp.yaml")
    for node in config["available_node_types"].values():
        (disk,) = node["node_config"]["disks"]
        assert disk["initializeParams"]["sourceImage"] == (
            "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
        )
    init = " ".join(config["initialization_commands"])
    assert "apt-get install -y -q docker.io" in init and "usermod -aG docker" in init


@pytest.mark.parametrize("name", ["aws.yaml", "gcp.yaml"])
def test_cloud_configs_autoscale_to_the_paper_grid(name):
    config = prepared(name)
    head = config["available_node_types"].pop(config["head_node_type"])
    assert head["resources"] == {"CPU": 0}
    capacity = sum(n["max_workers"] * n["resources"]["CPU"]
                   for n in config["available_node_types"].values())
    assert capacity >= 2 * PAPER_TRIALS  # every paper trial at once, even at 2 CPUs per trial
    assert all(n["min_workers"] == 0 for n in config["available_node_types"].values())


# ------------------------------------------------------------------ KubeRay, image, runtime_env


def kuberay_docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CLUSTER / name).read_text()) if d]


def cluster_specs() -> Iterator[tuple[str, dict]]:
    for name in KUBERAY:
        for doc in kuberay_docs(name):
            if doc["kind"] == "RayCluster":
                yield name, doc["spec"]
            elif doc["kind"] == "RayJob":
                yield name, doc["spec"]["rayClusterSpec"]


def figure5_flags() -> set[str]:
    """The flags experiments/figure5.py accepts: its parser's (made from the grid's and the
    trial's records, so not spelled out in the script)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("figure5_cli", ROOT / "experiments/figure5.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return {flag for action in script.make_parser()._actions for flag in action.option_strings}


def test_kuberay_rayjob_runs_the_paper_grid():
    (job,) = [d for d in kuberay_docs("kuberay/rayjob.yaml") if d["kind"] == "RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    entrypoint = job["spec"]["entrypoint"]
    assert re.search(r"\bpython /home/ray/rllib-iam/experiments/figure5\.py --profile paper "
                     r"--storage-path (s3|gs)://\S+", entrypoint), entrypoint
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    flags = figure5_flags()
    for flag in re.findall(r"(--[a-z-]+)", entrypoint):
        assert flag in flags, flag


def test_kuberay_manifests_use_the_project_image_token_auth_and_no_public_service():
    images = set()
    for name, spec in cluster_specs():
        assert spec["rayVersion"] == ray.__version__, name
        # Token auth from a secret the user creates (the operator injects RAY_AUTH_MODE and
        # RAY_AUTH_TOKEN into every Ray container); no token or Secret in the repository.
        assert spec["authOptions"] == {"mode": "token", "secretName": "rllib-iam-ray-token"}
        assert spec.get("headGroupSpec", {}).get("serviceType", "ClusterIP") == "ClusterIP"
        assert not spec.get("headGroupSpec", {}).get("enableIngress", False)
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
        for group in groups:
            (container,) = group["template"]["spec"]["containers"]
            images.add(container["image"])
            for var in container.get("env", []):
                assert not var["name"].startswith("RAY_AUTH"), "the operator sets the token"
        worker_cpus = sum(int(g["maxReplicas"]) * int(g["template"]["spec"]["containers"][0]
                                                      ["resources"]["limits"]["cpu"])
                          for g in spec["workerGroupSpecs"])
        assert worker_cpus >= PAPER_TRIALS, name
    (image,) = images  # one image, built from cluster/Dockerfile
    assert "rllib-iam" in image
    for name in KUBERAY:
        text = (CLUSTER / name).read_text()
        assert "LoadBalancer" not in text and "NodePort" not in text and "Ingress" not in text
        assert {d["kind"] for d in kuberay_docs(name)} <= {"RayJob", "RayCluster"}


def test_network_policy_admits_only_ray_pods_and_the_namespaces_job_port():
    (policy,) = kuberay_docs("kuberay/networkpolicy.yaml")
    assert (policy["apiVersion"], policy["kind"]) == ("networking.k8s.io/v1", "NetworkPolicy")
    spec = policy["spec"]
    ray_pods = {"matchExpressions": [{"key": "ray.io/cluster", "operator": "Exists"}]}
    assert spec["podSelector"] == ray_pods  # every pod KubeRay makes for a Ray cluster
    assert spec["policyTypes"] == ["Ingress"]
    among_ray_pods, job_port, operator = spec["ingress"]
    assert among_ray_pods == {"from": [{"podSelector": ray_pods}]}  # any port, Ray pods only
    # The dashboard and job API from pods of this namespace, and from the KubeRay operator's
    # pod in its own namespace (it polls a RayJob's status there); no ipBlock.
    port = [{"protocol": "TCP", "port": 8265}]
    assert job_port == {"from": [{"podSelector": {}}], "ports": port}
    assert operator == {"from": [{"namespaceSelector": {}, "podSelector": {
        "matchLabels": {"app.kubernetes.io/name": "kuberay-operator"}}}], "ports": port}
    text = (CLUSTER / "kuberay/networkpolicy.yaml").read_text()
    assert "ipBlock" not in text and text.count("namespaceSelector") == 1
    head_ports = {p["containerPort"] for _, spec_ in cluster_specs()
                  for p in spec_["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"]}
    assert 8265 in head_ports
    assert "kuberay/networkpolicy.yaml" in (CLUSTER / "README.md").read_text()


def test_dockerfile_builds_on_the_pinned_ray_image():
    lines = [ln.strip() for ln in (CLUSTER / "Dockerfile").read_text().splitlines()]
    (base,) = [ln for ln in lines if ln.startswith("FROM ")]
    assert base == f"FROM {IMAGE}"
    text = "\n".join(lines)
    assert "-r requirements.txt" in text and "pip install --no-cache-dir --no-deps -e ." in text
    ignore = (CLUSTER / "Dockerfile.dockerignore").read_text().split()
    assert {".git", ".venv", "runs"} <= set(ignore)


def test_runtime_env_uploads_the_code_and_leaves_vcs_venvs_and_results_behind(tmp_path):
    from ray._private.runtime_env.packaging import create_package

    runtime_env = load("runtime_env.yaml")
    assert runtime_env["working_dir"] == "."
    tree = {
        "rllib_iam/grid.py": "", "experiments/figure5.py": "", "analysis/figure5.py": "",
        "results/heuristics/warehouse.csv": "policy\n", "requirements.txt": "",
        ".git/objects/ab": "x", ".venv/bin/python": "x", ".venv-cpu/lib/x.py": "x",
        "venv/lib/x.py": "x", "runs/figure5-quick/fnn_seed0/result.json": "{}",
        "ray_results/x/result.json": "{}", "figure5-paper/table.csv": "x",
        "rllib_iam/__pycache__/grid.cpython-311.pyc": "x", "rllib_iam.egg-info/PKG-INFO": "x",
        "results/warehouse-blog/trials/iam_seed0.csv.gz": "x",
        "results/warehouse-blog/figure5.png": "x", "results/warehouse-blog/figure5.pdf": "x",
        "results/warehouse-blog/table.csv": "model\n",
    }
    for path, text in tree.items():
        (tmp_path / "src" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / path).write_text(text)
    package = tmp_path / "package.zip"
    # Only cluster/runtime_env.yaml's excludes: not .gitignore, not Ray's default excludes.
    create_package(str(tmp_path / "src"), package, include_gitignore=False,
                   excludes=runtime_env["excludes"])
    files = {n for n in zipfile.ZipFile(package).namelist() if not n.endswith("/")}
    assert files == {"rllib_iam/grid.py", "experiments/figure5.py", "analysis/figure5.py",
                     "results/heuristics/warehouse.csv", "results/warehouse-blog/table.csv",
                     "requirements.txt"}


# ------------------------------------------------------- a real two-node cluster on this machine


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(closing(socket.socket())) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def processes_mentioning(text: str) -> list[int]:
    """Pids of this machine's processes whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    log: Path
    temp_dir: Path


class LocalCluster:
    """A head and worker nodes started with `ray start --block`, each its own set of processes
    with its own ports and temp dir, token authentication on. Stopping signals the `ray start`
    processes it started (each stops its own node) and then kills, by pid, any process left
    whose command line names this cluster's folder. (`ray stop` would stop every Ray on the
    machine, other users' and other test runs' included.)"""

    def __init__(self, root: Path, token: str, nodes: int = 2):
        self.root = root
        self.token_file = root / "token"
        self.token_file.write_text(token + "\n")  # as `openssl rand -hex 32 > file` writes it
        self.token_file.chmod(0o600)
        (root / "home").mkdir()
        # All ports picked at once, so that none of them is handed out twice.
        self.gcs_port, self.dashboard_port, self.client_port, *self.agent_ports = free_ports(
            3 + nodes)
        self.dashboard = f"http://127.0.0.1:{self.dashboard_port}"
        self.nodes: list[Node] = []

    def env(self, **auth: str) -> dict[str, str]:
        """The environment of cluster processes and clients: this venv first on PATH, a private
        HOME (no ~/.ray/auth_token of the user's), no inherited RAY_* settings; by default the
        cluster's token, else the given RAY_AUTH_* variables."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HOME=str(self.root / "home"),
                   RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
        env.update(auth or {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_file)})
        return env

    def start_node(self, name: str, *args: str) -> Node:
        temp_dir = self.root / name
        log = self.root / f"{name}.log"
        agent_port = self.agent_ports[len(self.nodes)]
        command = [str(BIN / "ray"), "start", "--block", *args, "--node-ip-address=127.0.0.1",
                   "--num-cpus=1", "--num-gpus=0", "--object-store-memory=200000000",
                   f"--dashboard-agent-listen-port={agent_port}", "--min-worker-port=0",
                   "--max-worker-port=0", f"--temp-dir={temp_dir}", "--disable-usage-stats"]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=self.env(), cwd=self.root,
                                       start_new_session=True)
        node = Node(name, process, log, temp_dir)
        self.nodes.append(node)
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        return node

    def start(self, workers: int) -> None:
        self.start_node("head", "--head", f"--port={self.gcs_port}", "--include-dashboard=true",
                        "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
                        f"--ray-client-server-port={self.client_port}")
        for k in range(workers):
            self.start_node(f"worker{k}", f"--address=127.0.0.1:{self.gcs_port}")
        deadline = time.monotonic() + 90
        while len(self.alive_nodes()) < 1 + workers:
            assert time.monotonic() < deadline, f"nodes alive: {self.alive_nodes()}"
            time.sleep(1)

    def ray(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "ray"), *args], cwd=ROOT, env=env or self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def alive_nodes(self) -> dict[str, bool]:
        """``{node_id: is_head}`` of the nodes alive, through the state API (token needed)."""
        run = self.ray("list", "nodes", "--address", self.dashboard, "--format", "json",
                       "--filter", "state=ALIVE")
        if run.returncode != 0:
            return {}
        return {n["node_id"]: n["is_head_node"] for n in json.loads(run.stdout)}

    def stop(self) -> None:
        for node in reversed(self.nodes):
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
                try:
                    node.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (left := processes_mentioning(str(self.root))) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[LocalCluster]:
    # A short folder: Ray's Unix sockets live under it (paths of at most 107 bytes).
    with tempfile.TemporaryDirectory(prefix="rc", dir="/tmp") as root:
        cluster = LocalCluster(Path(root), token=os.urandom(24).hex(), nodes=2)
        try:
            cluster.start(workers=1)
            yield cluster
        finally:
            cluster.stop()
        assert not processes_mentioning(root), "processes of the test cluster outlived it"


def submit(cluster: LocalCluster, submission_id: str, *entrypoint: str,
           env: dict[str, str] | None = None, timeout: float = 300):
    return cluster.ray("job", "submit", "--address", cluster.dashboard,
                       "--runtime-env", "cluster/runtime_env.yaml",
                       "--submission-id", submission_id, "--", *entrypoint,
                       env=env, timeout=timeout)


def documented_submits() -> list[str]:
    """Every `ray job submit ...` command of the READMEs and the docs, continuation lines
    joined."""
    commands = []
    for doc in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), CLUSTER / "README.md"):
        text = re.sub(r"\\\n\s*", " ", doc.read_text())
        commands += [" ".join(m.group(0).split("#")[0].split())
                     for m in re.finditer(r"ray job submit [^\n`]*", text) if " -- " in m.group(0)]
    return commands


def test_documented_job_submits_upload_the_checkout_as_the_cluster_test_does():
    """The documented `ray job submit` lines carry the runtime_env that `submit` below (the
    two-node test's submission) passes; without it the job's driver would not find the
    project's scripts on the cluster."""
    commands = documented_submits()
    assert len(commands) >= 3, commands  # docs/running.md's and cluster/README.md's
    flags = figure5_flags()
    for command in commands:
        options, entrypoint = command.split(" -- ", 1)
        assert "--runtime-env cluster/runtime_env.yaml" in options, command
        assert entrypoint.startswith("python experiments/figure5.py "), command
        for flag in re.findall(r"(?<!\S)(--[a-z-]+)", entrypoint):
            assert flag in flags, (flag, command)


def test_a_wrong_or_missing_token_is_refused(two_node_cluster):
    cluster = two_node_cluster
    wrong = cluster.env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 48)
    run = submit(cluster, "intruder-wrong-token", "python", "-c", "print(1)", env=wrong)
    assert run.returncode != 0
    assert "Forbidden: Invalid authentication token" in run.stderr, run.stderr[-2000:]
    run = submit(cluster, "intruder-no-token", "python", "-c", "print(1)",
                 env=cluster.env(RAY_AUTH_MODE="disabled"))
    assert run.returncode != 0
    assert "Unauthorized: Missing authentication token" in run.stderr, run.stderr[-2000:]
    # The GCS (gRPC) refuses the wrong token too.
    run = cluster.ray("status", "--address", f"127.0.0.1:{cluster.gcs_port}", env=wrong)
    assert run.returncode != 0 and "InvalidAuthToken" in run.stderr, run.stderr[-2000:]
    # With the cluster's token: the job list works, and neither intruder's job exists.
    jobs = cluster.ray("job", "list", "--address", cluster.dashboard)
    assert jobs.returncode == 0 and "intruder" not in jobs.stdout + jobs.stderr


@pytest.mark.slow
def test_smoke_grid_through_ray_job_submit_runs_trials_on_both_nodes(two_node_cluster):
    cluster = two_node_cluster
    storage = cluster.root / "storage"
    storage.mkdir()
    # Only cluster/runtime_env.yaml's excludes decide what is uploaded (not .gitignore, not
    # Ray's default excludes); what arrived on the nodes is checked below.
    client = cluster.env()
    client.update(RAY_RUNTIME_ENV_IGNORE_GITIGNORE="1",
                  RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES="")
    run = submit(cluster, "figure5-smoke", "python", "experiments/figure5.py", "--profile",
                 "smoke", "--models", "fnn", "--seeds", "2", "--storage-path", str(storage),
                 "--name", "c1", env=client)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "2 of 2 trials finished" in output

    experiment = storage / "c1"
    for seed in (0, 1):
        trial = experiment / f"fnn_seed{seed}"
        lines = (trial / "result.json").read_text().splitlines()
        assert [json.loads(line)["training_iteration"] for line in lines] == [1, 2]
        assert json.loads(lines[-1])["figure5"]["transitions"] == PROFILES["smoke"].timesteps
        assert list(trial.glob("checkpoint_*")), trial
    assert (experiment / "figure5" / "table.csv").stat().st_size > 0

    # The node of each trial, recorded next to the results: one trial on each node.
    record = subprocess.run([sys.executable, "cluster/trial_nodes.py", str(experiment),
                             "--address", cluster.dashboard], cwd=ROOT, env=cluster.env(),
                            capture_output=True, text=True, timeout=120)
    assert record.returncode == 0, record.stdout + record.stderr
    nodes = json.loads((experiment / "trial_nodes.json").read_text())
    assert sorted(nodes) == ["fnn_seed0", "fnn_seed1"]
    used = [where["node_ids"][0] for where in nodes.values()]
    assert sorted(used) == sorted(cluster.alive_nodes())  # the head and the worker

    # Both nodes ran the trial from the uploaded working dir: code, no VCS, venv or results.
    for node in cluster.nodes:
        (package,) = node.temp_dir.glob("session_latest/runtime_resources/working_dir_files/*/")
        assert (package / "experiments" / "figure5.py").is_file()
        assert (package / "results" / "heuristics").is_dir()
        assert not {".git", ".venv", "runs"} & {p.name for p in package.iterdir()}
