"""kwok charges what a kubelet charges when the launcher is asked to (`ClusterConfig.kubelet_delays`).

A cluster of its own (one node, no NATS) with a 2 s pod start and a 0.5 s container restart:
a pod turns Ready no earlier than 2 s after it was bound, an in-place image change runs the
new image no earlier than 0.5 s after the patch, and deleting a pod stays immediate. The
session's cluster keeps kwok's default (no delay), so every other test keeps its speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from flotilla.devcluster.cluster import ClusterConfig, LocalCluster
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.kwok_nodes import KubeletDelays
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.toolchain import ToolchainError
from tests.integration.devcluster.kwok_pods import condition, pod_manifest
from tests.support.polling import eventually

POD_START = 2.0
CONTAINER_RESTART = 0.5
#: Both instants are seen by polling every 20 ms; a later one may be seen up to one poll
#: (and one request) early relative to the earlier one.
TOLERANCE = 0.1
NAMESPACE = "default"


@pytest.fixture(scope="module")
def delayed_core() -> Iterator[k8s.CoreV1Api]:
    delays = KubeletDelays(
        pod_start_ms=int(POD_START * 1000), container_restart_ms=int(CONTAINER_RESTART * 1000)
    )
    config = ClusterConfig(
        run_dir=new_run_dir("pytest-kwok-delays"), nodes=1, zones=("a",), kubelet_delays=delays
    )
    cluster = LocalCluster(config)
    try:
        cluster.start()
    except (ComponentError, ToolchainError) as err:
        pytest.fail(f"the delayed cluster did not start: {err}\nrun folder: {config.run_dir}", pytrace=False)
    api = k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        core = k8s.CoreV1Api(api)
        eventually(
            lambda: core.list_namespaced_service_account(NAMESPACE).items, what="a default ServiceAccount"
        )
        yield core
    finally:
        api.close()
        cluster.stop()


def _seen_at(check: Callable[[], bool], timeout: float = 30) -> float:
    """The monotonic time at which `check` is first seen true (polled every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout:.0f}s")
        time.sleep(0.02)
    return time.monotonic()


def _read(core: k8s.CoreV1Api, name: str) -> k8s.V1Pod:
    return core.read_namespaced_pod(name, NAMESPACE)


def test_pod_is_ready_no_earlier_than_the_start_delay_after_binding(delayed_core: k8s.CoreV1Api) -> None:
    core = delayed_core
    core.create_namespaced_pod(NAMESPACE, pod_manifest("slow-start", []))
    bound = _seen_at(lambda: bool(_read(core, "slow-start").spec.node_name))
    assert _read(core, "slow-start").status.phase == "Pending"
    ready = _seen_at(lambda: condition(_read(core, "slow-start"), "Ready") == "True")
    assert ready - bound >= POD_START - TOLERANCE
    assert ready - bound < POD_START + 10, "the start delay is not charged many times over"
    assert _read(core, "slow-start").status.phase == "Running"


def test_in_place_image_change_waits_for_the_restart_delay(delayed_core: k8s.CoreV1Api) -> None:
    core = delayed_core
    core.create_namespaced_pod(NAMESPACE, pod_manifest("slow-swap", []))
    eventually(lambda: condition(_read(core, "slow-swap"), "Ready") == "True")
    before = _read(core, "slow-swap")

    core.patch_namespaced_pod(
        "slow-swap", NAMESPACE, {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}
    )
    patched = time.monotonic()

    def running_new_image() -> bool:
        statuses = {s.name: s for s in _read(core, "slow-swap").status.container_statuses}
        return bool(statuses["main"].image == "nginx:1.27")

    swapped = _seen_at(running_new_image)
    assert swapped - patched >= CONTAINER_RESTART - TOLERANCE
    assert swapped - patched < CONTAINER_RESTART + 10
    after = _read(core, "slow-swap")
    assert after.metadata.uid == before.metadata.uid
    assert {s.name: s.restart_count for s in after.status.container_statuses} == {"main": 1, "side": 0}


def test_deletion_is_not_delayed(delayed_core: k8s.CoreV1Api) -> None:
    core = delayed_core
    core.create_namespaced_pod(NAMESPACE, pod_manifest("quick-delete", []))
    eventually(lambda: condition(_read(core, "quick-delete"), "Ready") == "True")
    core.delete_namespaced_pod("quick-delete", NAMESPACE)
    deleted = time.monotonic()

    def gone() -> bool:
        try:
            _read(core, "quick-delete")
        except k8s.ApiException as err:
            return err.status == 404
        return False

    assert _seen_at(gone) - deleted < POD_START, "deletion waited as long as a pod start"
