"""The control plane of `make conformance`: PVCs bind, containers have IDs that change on restart.

A cluster of its own (one node, no NATS) with ``hostpath_provisioner`` and ``container_ids``:
a PVC of the default StorageClass is bound by kube-controller-manager's hostPath
provisioner, and a pod's containers get IDs from kwok; an in-place image change gives the
restarted container a new ID and leaves the other one's alone. The session's cluster keeps
the defaults (no StorageClass, no IDs).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from flotilla.devcluster.cluster import ClusterConfig, LocalCluster
from flotilla.devcluster.env import new_run_dir
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.toolchain import ToolchainError
from tests.integration.devcluster.kwok_pods import condition, pod_manifest
from tests.support.polling import eventually

NAMESPACE = "default"


@pytest.fixture(scope="module")
def api() -> Iterator[k8s.ApiClient]:
    config = ClusterConfig(
        run_dir=new_run_dir("pytest-conformance-cluster"),
        nodes=1,
        zones=("a",),
        hostpath_provisioner=True,
        container_ids=True,
    )
    cluster = LocalCluster(config)
    try:
        cluster.start()
    except (ComponentError, ToolchainError) as err:
        pytest.fail(f"the cluster did not start: {err}\nrun folder: {config.run_dir}", pytrace=False)
    client = k8s_config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        core = k8s.CoreV1Api(client)
        eventually(
            lambda: core.list_namespaced_service_account(NAMESPACE).items, what="a default ServiceAccount"
        )
        yield client
    finally:
        client.close()
        cluster.stop()


def test_a_claim_of_the_default_storage_class_is_bound(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    [default] = [
        sc
        for sc in k8s.StorageV1Api(api).list_storage_class().items
        if (sc.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert default.provisioner == "kubernetes.io/host-path"
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    core.create_namespaced_persistent_volume_claim(NAMESPACE, claim)
    eventually(
        lambda: core.read_namespaced_persistent_volume_claim("data", NAMESPACE).status.phase == "Bound",
        what="the claim bound by the hostPath provisioner",
    )
    bound = core.read_namespaced_persistent_volume_claim("data", NAMESPACE)
    assert bound.spec.storage_class_name == default.metadata.name


def test_container_ids_change_when_the_container_restarts(api: k8s.ApiClient) -> None:
    core = k8s.CoreV1Api(api)
    core.create_namespaced_pod(NAMESPACE, pod_manifest("ids", []))
    eventually(lambda: condition(core.read_namespaced_pod("ids", NAMESPACE), "Ready") == "True")
    before = {
        s.name: s.container_id for s in core.read_namespaced_pod("ids", NAMESPACE).status.container_statuses
    }
    assert all(before.values()), before
    assert len(set(before.values())) == len(before), before

    core.patch_namespaced_pod(
        "ids", NAMESPACE, {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}
    )

    def restarted() -> bool:
        statuses = core.read_namespaced_pod("ids", NAMESPACE).status.container_statuses
        return any(s.name == "main" and s.image == "nginx:1.27" for s in statuses)

    eventually(restarted, what="the main container running nginx:1.27")
    after = {
        s.name: s.container_id for s in core.read_namespaced_pod("ids", NAMESPACE).status.container_statuses
    }
    assert after["main"] != before["main"]
    assert after["side"] == before["side"]
