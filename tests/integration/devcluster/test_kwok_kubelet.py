"""kwok plays the kubelet's parts that controllers depend on.

Ready follows the pod's readiness gates (a controller-owned gate such as kruise's
InPlaceUpdateReady holds a pod NotReady until the controller sets it), and a changed
container image is "restarted" in place with the new image, as the kubelet does for an
in-place update. Both are test infrastructure: no worker knows about kwok.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client as k8s

from tests.integration.devcluster.kwok_pods import condition, pod_manifest
from tests.support.polling import eventually


def test_ready_follows_readiness_gates(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, pod_manifest("gated", ["InPlaceUpdateReady"]))
    pod = eventually(
        lambda: (p := core.read_namespaced_pod("gated", namespace)).status.phase == "Running" and p
    )
    time.sleep(1)
    pod = core.read_namespaced_pod("gated", namespace)
    assert condition(pod, "Ready") == "False"

    gate = {"type": "InPlaceUpdateReady", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    core.patch_namespaced_pod_status("gated", namespace, {"status": {"conditions": [gate]}})
    eventually(lambda: condition(core.read_namespaced_pod("gated", namespace), "Ready") == "True")

    gate["status"] = "False"
    core.patch_namespaced_pod_status("gated", namespace, {"status": {"conditions": [gate]}})
    eventually(lambda: condition(core.read_namespaced_pod("gated", namespace), "Ready") == "False")


def test_changed_image_is_restarted_in_place(api_client: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, pod_manifest("swap", []))
    eventually(lambda: condition(core.read_namespaced_pod("swap", namespace), "Ready") == "True")
    before = core.read_namespaced_pod("swap", namespace)

    core.patch_namespaced_pod(
        "swap", namespace, {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}
    )

    def swapped() -> dict[str, Any] | None:
        pod = core.read_namespaced_pod("swap", namespace)
        statuses = {s.name: s for s in pod.status.container_statuses}
        return statuses if statuses["main"].image == "nginx:1.27" else None

    statuses = eventually(swapped)
    assert statuses["main"].image_id == "kwok://nginx:1.27"
    assert statuses["main"].restart_count == 1
    assert statuses["side"].image == "busybox:1.36"
    assert statuses["side"].restart_count == 0
    after = core.read_namespaced_pod("swap", namespace)
    assert after.metadata.uid == before.metadata.uid
    assert condition(after, "Ready") == "True"
