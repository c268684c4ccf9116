"""Where a search runs: notebook detection, shared-storage and resource pre-flight checks for Ray clusters.

Ray Tune leaves a trial that no node can ever hold PENDING forever (it only logs a warning), and since Ray 2.7 a
multi-node search whose storage is a node-local folder fails only when a worker first persists a checkpoint. Both
are user-input problems, so they are reported here as one-line :class:`~tune.errors.SpecError` (exit code 2)
before any trial starts.

Everything except :func:`cluster_nodes` and the default arguments of :func:`wait_for_resources` is pure: the
environment, the node list, the clock and the sleep are passed in, so the rules are tested without Ray.

Node dictionaries are what :func:`cluster_nodes` returns: ``{"node_id": str, "ip": str, "resources": {"CPU":
4.0, "GPU": 1.0, ...}}``; the raw entries of ``ray.nodes()`` (``NodeID``, ``NodeManagerAddress``, ``Resources``,
``Alive``) are accepted too.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from tune.errors import SpecError

NotebookEnv = Literal["kaggle", "colab"]

#: Environment variables that only the Kaggle kernel image sets (any one of them is enough).
KAGGLE_MARKERS = ("KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE", "KAGGLE_DATA_PROXY_TOKEN")
#: Environment variables that only Colab's runtime sets.
COLAB_MARKERS = ("COLAB_RELEASE_TAG", "COLAB_BACKEND_VERSION", "COLAB_GPU")

KAGGLE_STORAGE = "/kaggle/working/results"
COLAB_DRIVE = "/content/drive/MyDrive"
COLAB_DRIVE_STORAGE = "/content/drive/MyDrive/ranktune"
COLAB_LOCAL_STORAGE = "/content/results"
DEFAULT_STORAGE = "results"

SHARED_STORAGE_FLAG = "--shared-storage"
WAIT_FLAG = "--wait-for-resources"

# A URI scheme of two or more characters: "C:\\runs" (a Windows drive letter) is a plain path, "s3://b" is not.
_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://")
_LOCAL_SCHEMES = {"file", "local"}


def detect_notebook_env(environ: Mapping[str, str]) -> NotebookEnv | None:
    """``"kaggle"`` or ``"colab"`` when ``environ`` carries that notebook service's markers, else ``None``.

    Kaggle is checked first, so an image that carries both services' variables counts as Kaggle.
    """
    if any(environ.get(k) is not None for k in KAGGLE_MARKERS):
        return "kaggle"
    if any(environ.get(k) is not None for k in COLAB_MARKERS):
        return "colab"
    return None


def default_storage(env: NotebookEnv | None, is_dir: Callable[[str], bool] = os.path.isdir) -> str:
    """The results folder that survives the end of a notebook session.

    Kaggle keeps ``/kaggle/working`` as the notebook's output (saved with a "Save Version"); Colab keeps only a
    mounted Google Drive, so ``/content/drive/MyDrive/ranktune`` when Drive is mounted, else ``/content/results``
    (lost with the runtime: mount Drive first). Outside a notebook: the spec's default, ``results``.
    """
    if env == "kaggle":
        return KAGGLE_STORAGE
    if env == "colab":
        return COLAB_DRIVE_STORAGE if is_dir(COLAB_DRIVE) else COLAB_LOCAL_STORAGE
    return DEFAULT_STORAGE


def is_remote_uri(storage: str) -> bool:
    """True for a URI that Ray's pyarrow/fsspec storage layer resolves to a remote filesystem (``s3://``,
    ``gs://``, ``abfs://``, ``hdfs://``, ...); False for a plain path or a ``file://`` / ``local://`` URI."""
    match = _URI.match(storage)
    return match is not None and match.group("scheme").lower() not in _LOCAL_SCHEMES


def check_storage(storage: str, num_nodes: int, shared: bool = False) -> None:
    """Refuse a node-local results folder for a search that spans several nodes.

    "Node-local" is decided without touching any filesystem: every plain path and every ``file://`` URI is
    node-local, unless ``shared`` is True, which is the user's assertion (flag ``--shared-storage``) that the
    path is an NFS (or Lustre, GPFS, ...) mount seen at the same path by every node. A mount type seen from the
    driver proves nothing about the workers, so nothing is guessed. Any other URI scheme (``s3://``, ``gs://``,
    other pyarrow/fsspec filesystems) is accepted; its credentials are Ray's business.

    Args:
        storage: the spec's ``storage:`` or ``--storage``.
        num_nodes: alive nodes of the cluster (or 2 when an autoscaling cluster is expected to add workers).
        shared: the user asserted that a plain path is shared by all nodes.
    """
    if num_nodes <= 1 or shared or is_remote_uri(storage):
        return
    raise SpecError(
        f"a search on {num_nodes} nodes needs storage that every node sees, and this is a node-local path",
        key="storage",
        value=storage,
        allowed=(
            "s3://bucket/dir, gs://bucket/dir, another pyarrow/fsspec URI, "
            f"or an NFS path mounted on every node with {SHARED_STORAGE_FLAG}"
        ),
    )


def _resources(node: Mapping[str, Any]) -> Mapping[str, float]:
    return node.get("resources", node.get("Resources", {})) or {}


def _ip(node: Mapping[str, Any]) -> str:
    return str(node.get("ip", node.get("NodeManagerAddress", "?")))


def _fmt(x: float) -> str:
    return f"{x:g}"


def fits(request_cpu: float, request_gpu: float, node: Mapping[str, Any]) -> bool:
    """Whether one trial's request fits the node's *total* resources (what it could hold once idle)."""
    res = _resources(node)
    return float(res.get("CPU", 0.0)) >= request_cpu and float(res.get("GPU", 0.0)) >= request_gpu


def describe_nodes(nodes: Sequence[Mapping[str, Any]], limit: int = 4) -> str:
    """``"3 node(s): 10.0.0.1 cpu=8 gpu=1, 10.0.0.2 cpu=8 gpu=0, ..."`` (the first ``limit`` nodes)."""
    shown = [
        f"{_ip(n)} cpu={_fmt(float(_resources(n).get('CPU', 0.0)))} gpu={_fmt(float(_resources(n).get('GPU', 0.0)))}"
        for n in nodes[:limit]
    ]
    more = f", and {len(nodes) - limit} more" if len(nodes) > limit else ""
    return f"{len(nodes)} node(s): " + ", ".join(shown) + more


def refusal(
    request_cpu: float,
    request_gpu: float,
    nodes: Sequence[Mapping[str, Any]],
    remedy: str = f"or {WAIT_FLAG} SECONDS on an autoscaling cluster",
) -> SpecError | None:
    """The error :func:`preflight` raises for this request and these nodes, or None when some node fits."""
    request = {"cpu": request_cpu, "gpu": request_gpu}
    if not nodes:
        return SpecError(
            "the Ray cluster has no alive node", key="resources", value=request, allowed="a running cluster"
        )
    if any(fits(request_cpu, request_gpu, n) for n in nodes):
        return None
    max_cpu = max(float(_resources(n).get("CPU", 0.0)) for n in nodes)
    max_gpu = max(float(_resources(n).get("GPU", 0.0)) for n in nodes)
    if request_gpu > 0 and max_gpu == 0:
        what = f"a trial requests gpu={_fmt(request_gpu)} but no node has a GPU"
    else:
        what = f"no single node can hold one trial (cpu={_fmt(request_cpu)} gpu={_fmt(request_gpu)})"
    return SpecError(
        f"{what}; the cluster has {describe_nodes(nodes)}",
        key="resources",
        value=request,
        allowed=f"cpu <= {_fmt(max_cpu)} and gpu <= {_fmt(max_gpu)} per trial, {remedy}",
    )


def preflight(request_cpu: float, request_gpu: float, nodes: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a per-trial request that no single node can ever hold.

    Ray places a trial on one node, so what matters is the largest node, not the cluster's sum: 4 GPUs spread
    over 4 nodes cannot run a ``gpu: 2`` trial. A fractional GPU (``gpu: 0.25``) fits any node with one GPU.
    Nodes' *total* resources are compared, so a busy cluster passes: its trials wait their turn.
    """
    error = refusal(request_cpu, request_gpu, nodes)
    if error is not None:
        raise error


def cluster_nodes() -> list[dict[str, Any]]:
    """The alive nodes of the connected Ray cluster, each ``{"node_id", "ip", "resources"}`` (total resources)."""
    import ray

    return [
        {
            "node_id": str(n.get("NodeID", "")),
            "ip": str(n.get("NodeManagerAddress", "")),
            "resources": dict(n.get("Resources", {})),
        }
        for n in ray.nodes()
        if n.get("Alive", False)
    ]


def _request_bundle(request_cpu: float, request_gpu: float) -> list[dict[str, float]]:
    bundle = {"CPU": request_cpu}
    if request_gpu > 0:
        bundle["GPU"] = request_gpu
    return [bundle]


def _autoscaler_request(bundles: list[dict[str, float]]) -> None:
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)


def wait_for_resources(
    request: Mapping[str, float],
    seconds: float,
    *,
    interval: float = 5.0,
    nodes_fn: Callable[[], list[dict[str, Any]]] = cluster_nodes,
    ask_autoscaler: Callable[[list[dict[str, float]]], None] | None = _autoscaler_request,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Poll the cluster until some node can hold one trial; return the nodes then, or raise after ``seconds``.

    An autoscaler adds nodes only for *pending demand*, and a Tune run that has not started yet has none, so the
    request is first handed to the autoscaler (``ray.autoscaler.sdk.request_resources``, a no-op on a cluster
    without one) and withdrawn on return: the trials themselves keep the new node busy afterwards.

    Args:
        request: ``{"cpu": float, "gpu": float}``, the spec's ``resources:``.
        seconds: how long to wait (``--wait-for-resources SECONDS``); 0 checks once.
        interval: seconds between polls.
    """
    cpu, gpu = float(request.get("cpu", 1.0)), float(request.get("gpu", 0.0))
    deadline = clock() + seconds
    if ask_autoscaler is not None:
        ask_autoscaler(_request_bundle(cpu, gpu))
    try:
        while True:
            nodes = nodes_fn()
            if any(fits(cpu, gpu, n) for n in nodes):
                return nodes
            left = deadline - clock()
            if left <= 0:
                break
            sleep(min(interval, left))
    finally:
        if ask_autoscaler is not None:
            ask_autoscaler([])
    remedy = f"or a longer {WAIT_FLAG} if the autoscaler can add such a node"
    error = refusal(cpu, gpu, nodes, remedy) or SpecError(
        "no node fits", key="resources", value=dict(request)
    )
    raise SpecError(
        f"after waiting {_fmt(seconds)} s, {error.message}",
        key=error.key,
        value=error.value,
        allowed=error.allowed,
    )
