"""The README's run command, end to end: `flotilla dev up` brings up Flotilla with the sample
CloneSet, which scales 3 -> 5 and rolls its image in place, and whose pods carry the sample
SidecarSet's sidecar (injected by the webhook, then upgraded in place), and the sample Advanced StatefulSet,
which comes up on ordinals 0, 2, 3 and recreates its pods above the partition, and the sample
UnitedDeployment, whose subset CloneSets put 1 / 3 / 2 pods on the nodes of zones a / b / c, and
the webhook refuses `kubectl delete ns` of a namespace labelled for deletion protection;
`dev down` leaves no process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flotilla.devcluster.env import read_state
from flotilla.devcluster.process import pid_alive


def _flotilla(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flotilla.cli", *args],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def test_demo_reconciles_the_sample_and_stops_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    up = _flotilla("dev", "up", "--run-dir", str(run_dir))
    state = read_state(run_dir)
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        assert "scaled to 5 Ready" in up.stderr
        assert "rolled in place to nginx:1.27" in up.stderr
        assert "Jaeger" in up.stdout
        assert state is not None
        kubectl = [str(state["binaries"]["kubectl"]), "--kubeconfig", str(state["kubeconfig"])]  # type: ignore[index]
        pods = json.loads(
            subprocess.run(
                [*kubectl, "get", "pods", "-l", "app=demo", "-o", "json"], capture_output=True, check=True
            ).stdout
        )["items"]
        assert len(pods) == 5
        assert "sidecar upgraded in place to busybox:1.37" in up.stderr
        for pod in pods:
            assert [c["name"] for c in pod["spec"]["containers"]] == ["nginx", "log-agent"], (
                "the webhook injected the sample SidecarSet's sidecar after the app container"
            )
            statuses = {s["name"]: s for s in pod["status"]["containerStatuses"]}
            assert (statuses["nginx"]["image"], statuses["log-agent"]["image"]) == (
                "nginx:1.27",
                "busybox:1.37",
            )
            assert statuses["nginx"]["restartCount"] == 1, (
                "updated in place: the container restarted once (its own image), the pod was not"
                " recreated, and the sidecar's upgrade did not restart it"
            )
            assert statuses["log-agent"]["restartCount"] == 1, "the sidecar restarted once, for its upgrade"
        assert "recreated to nginx:1.27 above partition 1" in up.stderr
        sts_pods = json.loads(
            subprocess.run(
                [*kubectl, "get", "pods", "-l", "app=demo-web", "-o", "json"], capture_output=True, check=True
            ).stdout
        )["items"]
        images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in sts_pods}
        assert images == {"demo-web-0": "nginx:1.26", "demo-web-2": "nginx:1.27", "demo-web-3": "nginx:1.27"}
        assert "subsets zone-a 1, zone-b 3 (50%), zone-c 2 (the rest) Ready" in up.stderr
        assert (
            "kubectl delete ns demo-protected (policy.kruise.io/delete-protection=Always) is refused"
            in up.stderr
        )
        assert (
            'admission webhook "vnamespace.kb.io" denied the request: '
            "forbidden by ResourcesProtectionDeletion for policy.kruise.io/delete-protection=Always"
        ) in up.stderr, "kruise's message (pkg/webhook/util/deletionprotection)"
        nodes = json.loads(
            subprocess.run([*kubectl, "get", "nodes", "-o", "json"], capture_output=True, check=True).stdout
        )["items"]
        zone = "topology.kubernetes.io/zone"
        zone_of = {n["metadata"]["name"]: n["metadata"]["labels"][zone] for n in nodes}
        ud_pods = json.loads(
            subprocess.run(
                [*kubectl, "get", "pods", "-l", "app=demo-zones", "-o", "json"],
                capture_output=True,
                check=True,
            ).stdout
        )["items"]
        placed = sorted(
            (p["metadata"]["labels"]["apps.kruise.io/subset-name"], zone_of[p["spec"]["nodeName"]])
            for p in ud_pods
        )
        assert placed == [("zone-a", "a")] + [("zone-b", "b")] * 3 + [("zone-c", "c")] * 2
        subset_owners = {p["metadata"]["ownerReferences"][0]["kind"] for p in ud_pods}
        assert subset_owners == {"CloneSet"}, "each subset is a CloneSet the CloneSet worker reconciles"
        traces = _flotilla("dev", "traces", "--run-dir", str(run_dir), "--limit", "20")
        assert traces.returncode == 0, traces.stderr
        assert "flotilla-worker-cloneset: consume cloneset" in traces.stdout
        assert "flotilla.key=cloneset/default/demo" in traces.stdout
        columns = subprocess.run(
            [*kubectl, "get", "clonesets"], capture_output=True, text=True, check=True
        ).stdout
        assert columns.split("\n")[0].split() == [
            "NAME",
            "DESIRED",
            "UPDATED",
            "UPDATED_READY",
            "UPDATED_AVAILABLE",
            "READY",
            "TOTAL",
            "AGE",
        ]
    finally:
        down = _flotilla("dev", "down", "--run-dir", str(run_dir))
    assert down.returncode == 0
    pids = state["pids"] if state else {}
    assert isinstance(pids, dict)
    started = {
        "watcher",
        "worker-cloneset",
        "worker-statefulset",
        "worker-uniteddeployment",
        "worker-sidecarset",
        "worker-containerlaunchpriority",
        "jaeger",
    }
    assert started | {"kube-apiserver"} <= set(pids)
    assert all(not pid_alive(pid) for pid in pids.values())
