"""tune.cluster without Ray: notebook detection, default storage, shared-storage rule, pre-flight and waiting."""

from __future__ import annotations

import pytest

from tune.cluster import (
    check_storage,
    default_storage,
    describe_nodes,
    detect_notebook_env,
    is_remote_uri,
    preflight,
    wait_for_resources,
)
from tune.errors import SpecError


def node(ip: str, cpu: float, gpu: float = 0.0) -> dict:
    res = {"CPU": cpu, "memory": 1e9}
    if gpu:
        res["GPU"] = gpu
    return {"node_id": ip.replace(".", ""), "ip": ip, "resources": res}


CPU_ONLY = [node("10.0.0.1", 8), node("10.0.0.2", 4)]
GPU_NODES = [node("10.0.0.1", 2), node("10.0.0.2", 8, 1), node("10.0.0.3", 8, 2)]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"HOME": "/root", "PATH": "/usr/bin"}, None),
        ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "kaggle"),
        ({"KAGGLE_URL_BASE": "https://www.kaggle.com"}, "kaggle"),
        ({"COLAB_RELEASE_TAG": "release-colab_20250101"}, "colab"),
        ({"COLAB_GPU": ""}, "colab"),  # present but empty on CPU runtimes: presence is the marker
        ({"KAGGLE_KERNEL_RUN_TYPE": "Batch", "COLAB_GPU": "1"}, "kaggle"),
    ],
)
def test_detect_notebook_env(environ, expected):
    assert detect_notebook_env(environ) == expected


def test_default_storage_per_environment():
    assert default_storage("kaggle") == "/kaggle/working/results"
    assert (
        default_storage("colab", is_dir=lambda p: p == "/content/drive/MyDrive")
        == "/content/drive/MyDrive/ranktune"
    )
    assert default_storage("colab", is_dir=lambda p: False) == "/content/results"
    assert default_storage(None) == "results"


@pytest.mark.parametrize(
    ("storage", "remote"),
    [
        ("s3://bucket/runs", True),
        ("gs://bucket/runs", True),
        ("abfs://container/runs", True),
        ("hdfs://namenode:8020/runs", True),
        ("S3://Bucket/runs", True),
        ("file:///mnt/nfs/runs", False),
        ("local:///tmp/x", False),
        ("/mnt/nfs/runs", False),
        ("results", False),
        ("C://runs", False),  # a one-letter "scheme" is a Windows drive, not a URI
    ],
)
def test_is_remote_uri(storage, remote):
    assert is_remote_uri(storage) is remote


def test_check_storage_accepts_any_path_on_one_node_and_uris_or_asserted_shared_paths_on_many():
    check_storage("results", num_nodes=1)
    check_storage("/tmp/x", num_nodes=0)
    check_storage("s3://bucket/runs", num_nodes=3)
    check_storage("gs://bucket/runs", num_nodes=3)
    check_storage("/mnt/nfs/runs", num_nodes=3, shared=True)


@pytest.mark.parametrize("storage", ["results", "/home/me/results", "file:///mnt/nfs/runs"])
def test_check_storage_refuses_a_node_local_path_on_several_nodes_with_one_line_naming_the_options(storage):
    with pytest.raises(SpecError) as info:
        check_storage(storage, num_nodes=3)
    text = str(info.value)
    assert "\n" not in text
    assert "key 'storage'" in text and repr(storage) in text and "3 nodes" in text
    assert all(opt in text for opt in ("s3://", "gs://", "fsspec", "NFS", "--shared-storage"))


def test_preflight_accepts_a_request_that_some_node_holds():
    preflight(8, 0, CPU_ONLY)
    preflight(1, 0.25, GPU_NODES)
    preflight(8, 2, GPU_NODES)
    preflight(2, 0, GPU_NODES)


def test_preflight_refuses_a_gpu_on_a_cpu_only_cluster_naming_request_and_nodes():
    with pytest.raises(SpecError) as info:
        preflight(1, 0.5, CPU_ONLY)
    assert str(info.value) == (
        "<spec>, key 'resources', value {'cpu': 1, 'gpu': 0.5}: a trial requests gpu=0.5 but no node has a GPU; "
        "the cluster has 2 node(s): 10.0.0.1 cpu=8 gpu=0, 10.0.0.2 cpu=4 gpu=0 "
        "(allowed: cpu <= 8 and gpu <= 0 per trial, or --wait-for-resources SECONDS on an autoscaling cluster)"
    )


def test_preflight_compares_with_the_largest_single_node_not_the_cluster_sum():
    # 3 GPUs and 18 CPUs in all, but no one node has 3 GPUs, nor 9 CPUs with a GPU.
    with pytest.raises(SpecError, match=r"no single node can hold one trial \(cpu=1 gpu=3\)"):
        preflight(1, 3, GPU_NODES)
    with pytest.raises(SpecError, match=r"cpu <= 8 and gpu <= 2 per trial"):
        preflight(9, 1, GPU_NODES)
    with pytest.raises(SpecError, match=r"no single node can hold one trial \(cpu=16 gpu=0\)"):
        preflight(16, 0, CPU_ONLY)


def test_preflight_refuses_an_empty_cluster_and_reads_raw_ray_nodes_entries():
    with pytest.raises(SpecError, match="no alive node"):
        preflight(1, 0, [])
    raw = [{"NodeID": "ab", "NodeManagerAddress": "10.1.1.1", "Alive": True, "Resources": {"CPU": 4.0}}]
    preflight(4, 0, raw)
    with pytest.raises(SpecError, match="10.1.1.1 cpu=4 gpu=0"):
        preflight(1, 1, raw)


def test_describe_nodes_truncates_long_clusters():
    nodes = [node(f"10.0.0.{i}", 4) for i in range(7)]
    assert (
        describe_nodes(nodes, limit=2) == "7 node(s): 10.0.0.0 cpu=4 gpu=0, 10.0.0.1 cpu=4 gpu=0, and 5 more"
    )


class FakeClock:
    """A clock that advances only when slept on, so waiting tests take no time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def test_wait_for_resources_returns_once_a_fitting_node_joins_and_withdraws_the_autoscaler_request():
    clock = FakeClock()
    polls = iter([CPU_ONLY, CPU_ONLY, CPU_ONLY + [node("10.0.0.9", 8, 1)]])
    asked: list[list[dict]] = []
    nodes = wait_for_resources(
        {"cpu": 2, "gpu": 0.5},
        60,
        interval=5,
        nodes_fn=lambda: next(polls),
        ask_autoscaler=asked.append,
        sleep=clock.sleep,
        clock=clock,
    )
    assert [n["ip"] for n in nodes] == ["10.0.0.1", "10.0.0.2", "10.0.0.9"]
    assert clock.sleeps == [5, 5]
    assert asked == [[{"CPU": 2.0, "GPU": 0.5}], []]


def test_wait_for_resources_times_out_with_the_preflight_message():
    clock = FakeClock()
    asked: list[list[dict]] = []
    with pytest.raises(SpecError) as info:
        wait_for_resources(
            {"cpu": 1, "gpu": 1},
            12,
            interval=5,
            nodes_fn=lambda: CPU_ONLY,
            ask_autoscaler=asked.append,
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.sleeps == [5, 5, 2]
    assert "after waiting 12 s, a trial requests gpu=1 but no node has a GPU" in str(info.value)
    assert str(info.value).endswith("or a longer --wait-for-resources if the autoscaler can add such a node)")
    assert asked == [[{"CPU": 1.0, "GPU": 1.0}], []]


def test_wait_for_resources_zero_seconds_checks_once_and_cpu_requests_ask_for_cpu_only():
    clock = FakeClock()
    asked: list[list[dict]] = []
    nodes = wait_for_resources(
        {"cpu": 4}, 0, nodes_fn=lambda: CPU_ONLY, ask_autoscaler=asked.append, sleep=clock.sleep, clock=clock
    )
    assert nodes == CPU_ONLY and clock.sleeps == [] and asked == [[{"CPU": 4.0}], []]
