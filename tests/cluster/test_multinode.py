"""A real multi-node Ray on this machine: trials spread over nodes and share GPUs by fraction, with the placement
recorded per trial; an impossible request and a node-local storage are refused before any trial starts; and the
ports of a local run.

Each scenario runs in its own Python process: the session's ``ray_local`` fixture must not meet a second Ray.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RAY_DEDUP_LOGS": "1", "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def facts(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("multinode")
    proc = _run([str(HERE / "multinode_check.py"), str(out)], timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MULTINODE_FACTS ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("MULTINODE_FACTS "))


def test_cluster_nodes_and_wait_for_resources_read_the_real_cluster(facts):
    nodes = {n["node_id"]: n["resources"] for n in facts["nodes"]}
    assert set(nodes) == {facts["head_node_id"], *facts["worker_node_ids"]}
    assert nodes[facts["head_node_id"]]["CPU"] == 1 and "GPU" not in nodes[facts["head_node_id"]]
    assert all(nodes[w]["CPU"] == 2 and nodes[w]["GPU"] == 1 for w in facts["worker_node_ids"])
    assert facts["wait_ok"] == 3
    assert (
        facts["wait_refused"].startswith("<spec>, key 'resources'")
        and "after waiting 2 s" in facts["wait_refused"]
    )


def test_trials_spread_over_the_worker_nodes_and_share_each_gpu_by_half(facts):
    packed = facts["packed"]
    assert packed["code"] == 0, packed["stderr"]
    trials = packed["trials"]
    assert len(trials) == 4
    by_node: dict[str, list[dict]] = defaultdict(list)
    for t in trials:
        assert t["node_ip"] and t["gpu_ids"] not in ("", "nan"), (
            t
        )  # the placement is recorded in every result
        by_node[t["node_id"]].append(t)
    # Only the two workers have GPUs; each holds two 0.5-GPU trials (its 2 CPUs allow no more).
    assert set(by_node) == set(facts["worker_node_ids"])
    assert facts["head_node_id"] not in by_node
    for node_trials in by_node.values():
        assert len(node_trials) == 2
        assert len({t["gpu_ids"] for t in node_trials}) == 1  # the same physical GPU, by fraction
        assert "," not in node_trials[0]["gpu_ids"]
        # ... at the same time: the two runs overlap
        assert max(t["start"] for t in node_trials) < min(t["end"] for t in node_trials)


def test_preflight_refuses_a_request_no_node_can_hold_with_exit_2_and_no_trial_folder(facts):
    imp = facts["impossible"]
    assert imp["code"] == 2
    err = imp["stderr"].strip().splitlines()[-1]
    assert err.startswith("error: ") and "key 'resources'" in err and "gpu=2" in err
    assert "3 node(s)" in err and "gpu <= 1" in err
    assert imp["search"] is False


def test_node_local_storage_is_refused_on_a_multi_node_cluster(facts):
    local = facts["local_storage"]
    assert local["code"] == 2
    err = local["stderr"].strip().splitlines()[-1]
    assert "key 'storage'" in err and "3 nodes" in err and "s3://" in err and "--shared-storage" in err
    assert local["search"] is False


LOCAL_PORTS = textwrap.dedent(
    """
    import json, time, psutil, ray
    from tune.orchestrate import connect
    connect(None)
    time.sleep(2)
    me = psutil.Process()
    found = []
    for p in [me, *me.children(recursive=True)]:
        try:
            conns = p.net_connections(kind="inet")
            name = p.name()
        except psutil.Error:
            continue
        found += [[name, c.laddr.ip, c.laddr.port] for c in conns if c.status == psutil.CONN_LISTEN]
    ray.shutdown()
    print("LISTENING " + json.dumps(found))
    """
)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Ray 2.60's GCS, raylet and core-worker gRPC servers listen on '::' (all interfaces) even with "
        "_node_ip_address='127.0.0.1', and its runtime-env agent on the machine's address; Ray offers no "
        "setting to bind them to loopback. Token authentication guards those ports meanwhile."
    ),
)
def test_a_local_run_listens_on_loopback_only():
    proc = _run(["-c", LOCAL_PORTS], timeout=120)
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("LISTENING ")]
    listening = json.loads(line.removeprefix("LISTENING "))
    assert listening, "no listening socket found: the check itself is broken"
    exposed = [s for s in listening if s[1] not in ("127.0.0.1", "::1")]
    assert not exposed, exposed
