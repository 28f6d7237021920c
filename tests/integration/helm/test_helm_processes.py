"""The real watcher and CloneSet worker run with the chart's identities and configuration.

One process per replica of the installed watcher and CloneSet worker Deployments, started
exactly as their pods run (the Deployment's args and env; POD_NAME / POD_NAMESPACE filled in
as the kubelet would), each with a kubeconfig holding only its component's ServiceAccount
token. Proves the chart's least-privilege RBAC is enough for the real processes: one watcher
takes the chart's Lease and the other stands by; a CloneSet gets its 3 pods, its
ControllerRevision and its status, then scales in to 1; no log shows an authorization error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flotilla.devcluster.env import DevEnvironment
from tests.integration.helm.helm_release import Kubectl, eventually, get
from tests.integration.helm.pod_processes import Replica, authorization_denials, start_like_pods


@pytest.fixture
def replicas(
    dev_env: DevEnvironment, kubectl: Kubectl, release: tuple[str, str, str], tmp_path: Path
) -> Iterator[list[Replica]]:
    """The watcher and CloneSet worker processes of the installed release (watchers first)."""
    name, namespace, _ = release
    started: list[Replica] = []
    try:
        for component in ("watcher", "worker-cloneset"):
            deployment = f"{name}-flotilla-{component}"
            started += start_like_pods(dev_env, kubectl, namespace, deployment, tmp_path)
        yield started
    finally:
        for replica in started:
            replica.stop()


def test_chart_components_reconcile_a_cloneset_with_only_their_rbac(
    kubectl: Kubectl, release: tuple[str, str, str], namespace: str, replicas: list[Replica]
) -> None:
    name, release_namespace, _ = release
    lease_name = f"{name}-flotilla-watcher"
    watchers = [r for r in replicas if "-watcher-" in r.pod_name]
    assert len(watchers) == 2, "the chart's watcher replicas"
    assert len(replicas) > len(watchers), "and its CloneSet worker replicas"

    def logs() -> str:
        return "\n".join(f"--- {r.pod_name}\n{r.log.read_text(errors='replace')[-3000:]}" for r in replicas)

    def holder() -> str | None:
        lease = kubectl("get", "lease", lease_name, "-n", release_namespace, "-o", "json", check=False)
        if lease.returncode != 0:
            return None
        return str(json.loads(lease.stdout)["spec"].get("holderIdentity") or "")

    def pods_of(uid: str) -> list[dict[str, Any]]:
        pods = get(kubectl, "pods", "-n", namespace, "-l", "app=demo")["items"]
        return [p for p in pods if any(ref["uid"] == uid for ref in p["metadata"].get("ownerReferences", []))]

    try:
        leader = eventually(holder, timeout=60)
        assert leader in {r.pod_name for r in watchers}
        roles = eventually(
            lambda: sorted(r.metric("flotilla_watcher_is_leader") or 0.0 for r in watchers) == [0.0, 1.0],
            timeout=30,
        )
        assert roles, "one leader and one standby"

        kubectl(
            "apply", "-n", namespace, "-f", "-",
            input=(
                "apiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet\nmetadata: {name: demo}\n"
                "spec:\n  replicas: 3\n  selector: {matchLabels: {app: demo}}\n"
                "  template:\n    metadata: {labels: {app: demo}}\n"
                "    spec: {containers: [{name: app, image: nginx:1.27}]}\n"
            ),
        )  # fmt: skip
        uid = get(kubectl, "clonesets.apps.kruise.io", "demo", "-n", namespace)["metadata"]["uid"]
        eventually(lambda: len(pods_of(uid)) == 3, timeout=90)

        def status_counts() -> bool:
            status = get(kubectl, "clonesets.apps.kruise.io", "demo", "-n", namespace).get("status", {})
            return status.get("replicas") == 3 and status.get("readyReplicas") == 3

        eventually(status_counts, timeout=90)
        revisions = get(kubectl, "controllerrevisions", "-n", namespace)["items"]
        assert any(
            ref["uid"] == uid for rev in revisions for ref in rev["metadata"].get("ownerReferences", [])
        )

        kubectl("scale", "clonesets.apps.kruise.io", "demo", "-n", namespace, "--replicas=1")
        eventually(lambda: len([p for p in pods_of(uid) if "deletionTimestamp" not in p["metadata"]]) == 1)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{logs()}") from None
    assert not authorization_denials(logs()), logs()
    assert all(r.process.poll() is None for r in replicas), logs()
