"""charts/flotilla against the real local API server: dry run, install, RBAC, upgrade, uninstall.

Proves: `helm template` output (defaults, and every option on with the ServiceMonitor,
ScaledObject and cert-manager kinds known to the server) passes a server-side dry run;
a real `helm install --wait` creates the CRDs (Established), the watcher (2 ready
replicas), the CloneSet worker, ServiceAccounts, RBAC, PDBs and Services (kwok plays the
pods: objects are asserted, not container behaviour); `kubectl auth can-i` as each
ServiceAccount allows exactly what the component needs and refuses the rest; `helm upgrade
--set workers.cloneset.replicas=3` scales that worker type alone; the webhook, when
enabled, is registered with the CA of its serving certificate, which survives an
upgrade; `helm uninstall` removes everything but the CRDs; a bad value fails
`helm install` with the values.schema.json message and installs nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.ports import free_port
from flotilla.runtime.kube import PODS, KubeClient, Resource
from tests.integration.helm.helm_release import Kubectl, eventually, exists, get, helm, install
from tests.integration.helm.identity import service_account_kubeconfig
from tests.integration.helm.pod_processes import authorization_denials, start_like_pods
from tests.support.polling import eventually as poll
from tests.unit.helm.chart_render import CHART, KUBE_VERSION, helm_run, render_text, set_args

#: Minimal stand-ins for the CRDs of the Prometheus Operator, KEDA and cert-manager, so the
#: server can dry-run the chart's optional objects of those kinds.
STUB_CRDS = [
    ("monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor"),
    ("keda.sh", "v1alpha1", "scaledobjects", "ScaledObject"),
    ("cert-manager.io", "v1", "certificates", "Certificate"),
    ("cert-manager.io", "v1", "issuers", "Issuer"),
]


def _stub_crd(group: str, version: str, plural: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"flotilla.dev/test": "helm-stub"}},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


@pytest.fixture
def stub_crds(kubectl: Kubectl) -> Iterator[None]:
    manifests = [_stub_crd(*crd) for crd in STUB_CRDS]
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
    names = [m["metadata"]["name"] for m in manifests]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names))
    try:
        yield
    finally:
        kubectl("delete", "crd", *names, "--ignore-not-found", "--wait=false", check=False)


def test_helm_template_passes_a_server_side_dry_run(kubectl: Kubectl, namespace: str) -> None:
    args = ["--namespace", namespace, "--include-crds"]
    rendered = render_text(extra=args).stdout.replace("namespace: flotilla-system", f"namespace: {namespace}")
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    applied = result.stdout
    assert "deployment.apps/flotilla-watcher created (server dry run)" in applied
    assert "deployment.apps/flotilla-worker-cloneset created (server dry run)" in applied
    assert "customresourcedefinition.apiextensions.k8s.io/clonesets.apps.kruise.io" in applied


@pytest.mark.usefixtures("stub_crds")
def test_every_option_passes_a_server_side_dry_run(kubectl: Kubectl, namespace: str) -> None:
    every_option: dict[str, object] = {
        "natsServer.enabled": True,
        "nats.credentialsSecret.name": "nats-creds",
        "tracing.enabled": True,
        "metrics.serviceMonitor.enabled": True,
        "workers.cloneset.keda.enabled": True,
        "webhook.enabled": True,
        "webhook.certManager.enabled": True,
    }
    args = ["template", "fl", str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    rendered = helm_run(*args, *set_args(every_option)).stdout
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    for expected in (
        "statefulset.apps/fl-nats created",
        "scaledobject.keda.sh/fl-flotilla-worker-cloneset created",
        "servicemonitor.monitoring.coreos.com/fl-flotilla created",
        "certificate.cert-manager.io/fl-flotilla-webhook created",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/fl-flotilla-webhook created",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/fl-flotilla-webhook created",
        "deployment.apps/fl-flotilla-webhook created",
    ):
        assert expected in result.stdout, result.stdout
    with_hpa = {"workers.cloneset.autoscaling.enabled": True}
    rendered = helm_run(*args, *set_args(with_hpa)).stdout
    result = kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert "horizontalpodautoscaler.autoscaling/fl-flotilla-worker-cloneset created" in result.stdout


def test_install_creates_the_crds_components_and_rbac(
    kubectl: Kubectl, release: tuple[str, str, str]
) -> None:
    name, namespace, notes = release
    full = f"{name}-flotilla"
    for crd_file in sorted((CHART / "crds").glob("*.yaml")):
        crd_name = yaml.safe_load(crd_file.read_text())["metadata"]["name"]
        crd = get(kubectl, "crd", crd_name)
        established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"]
        assert established == "True", crd_name
    watcher = get(kubectl, "-n", namespace, "deployment", f"{full}-watcher")
    assert watcher["spec"]["replicas"] == 2
    assert watcher["status"]["readyReplicas"] == 2
    workers = [f"{full}-worker-{kind}" for kind in DEFAULT_WORKERS]
    for worker_name in workers:
        worker = get(kubectl, "-n", namespace, "deployment", worker_name)
        assert worker["spec"]["replicas"] == 1, worker_name
        assert worker["status"]["readyReplicas"] == 1, worker_name
        pod_spec = worker["spec"]["template"]["spec"]
        assert pod_spec["serviceAccountName"] == worker_name
        assert pod_spec["securityContext"]["runAsNonRoot"] is True
        assert pod_spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    pods = get(kubectl, "-n", namespace, "pods", "-l", f"app.kubernetes.io/instance={name}")["items"]
    assert len(pods) == 2 + len(DEFAULT_WORKERS), (
        "watcher x2, one worker of each default type (the session release leaves the webhook off)"
    )
    assert all(pod["status"]["phase"] == "Running" for pod in pods)
    for kind, object_name in [
        ("serviceaccount", f"{full}-watcher"),
        ("role.rbac.authorization.k8s.io", f"{full}-watcher-leader-election"),
        ("rolebinding.rbac.authorization.k8s.io", f"{full}-watcher-leader-election"),
        ("poddisruptionbudget", f"{full}-watcher"),
        ("service", f"{full}-watcher-metrics"),
        *(("serviceaccount", worker_name) for worker_name in workers),
        *(("poddisruptionbudget", worker_name) for worker_name in workers),
        *(("service", f"{worker_name}-metrics") for worker_name in workers),
    ]:
        assert exists(kubectl, "-n", namespace, kind, object_name), f"{kind} {object_name}"
    for kind in ("clusterrole", "clusterrolebinding"):
        for object_name in (f"{full}-watcher", *workers):
            assert exists(kubectl, kind, object_name), f"{kind} {object_name}"
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        assert not exists(kubectl, kind, f"{full}-webhook"), "webhook.enabled=false registers nothing"
    assert "Check that it works" in notes
    assert f"get lease {full}-watcher" in notes


#: The worker types a default release runs (charts/flotilla/values.yaml).
DEFAULT_WORKERS = (
    "cloneset",
    "broadcastjob",
    "advancedcronjob",
    "statefulset",
    "uniteddeployment",
    "podunavailablebudget",
    "sidecarset",
    "containerlaunchpriority",
)

#: What workers/cloneset and workers/runtime call (see docs/deploy.md), nothing more.
CLONESET_WORKER_NEEDS = [
    "get clonesets.apps.kruise.io",
    "patch clonesets.apps.kruise.io",
    "update clonesets.apps.kruise.io --subresource=status",
    "patch clonesets.apps.kruise.io --subresource=status",
    "update clonesets.apps.kruise.io --subresource=finalizers",
    "list pods",
    "create pods",
    "patch pods",
    "delete pods",
    "patch pods --subresource=status",
    "update pods --subresource=finalizers",
    "create persistentvolumeclaims",
    "delete persistentvolumeclaims",
    "list persistentvolumeclaims",
    "patch persistentvolumeclaims",
    "create controllerrevisions.apps",
    "delete controllerrevisions.apps",
    "patch controllerrevisions.apps",
    "list controllerrevisions.apps",
    "create imagepulljobs.apps.kruise.io",
    "list imagepulljobs.apps.kruise.io",
    "delete imagepulljobs.apps.kruise.io",
    "get podunavailablebudgets.policy.kruise.io",
    "update podunavailablebudgets.policy.kruise.io --subresource=status",
    "create events",
    "patch events",
]


def _can_i(kubectl: Kubectl, subject: str, namespace: str, verb: str, resource: str) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={subject}", "-n", namespace]
    if "--subresource=" in resource:
        resource, subresource = resource.split(" ")
        args = ["auth", "can-i", verb, resource, subresource, f"--as={subject}", "-n", namespace]
    result = kubectl(*args, check=False)
    answer = result.stdout.strip()
    assert answer in {"yes", "no"}, f"kubectl auth can-i {verb} {resource}: {result.stdout}{result.stderr}"
    return answer == "yes"


def _assert_matrix(
    kubectl: Kubectl, subject: str, namespace: str, allowed: list[str], refused: list[str]
) -> None:
    wrong = []
    for entry in allowed:
        verb, resource = entry.split(" ", 1)
        if not _can_i(kubectl, subject, namespace, verb, resource):
            wrong.append(f"refused but needed: {entry}")
    for entry in refused:
        verb, resource = entry.split(" ", 1)
        if _can_i(kubectl, subject, namespace, verb, resource):
            wrong.append(f"allowed but not needed: {entry}")
    assert not wrong, f"{subject} in {namespace}:\n" + "\n".join(wrong)


def test_watcher_may_only_read_what_it_watches(kubectl: Kubectl, release: tuple[str, str, str]) -> None:
    name, namespace, _ = release
    sa = f"system:serviceaccount:{namespace}:{name}-flotilla-watcher"
    watched = (
        "clonesets.apps.kruise.io",
        "pods",
        "persistentvolumeclaims",
        "controllerrevisions.apps",
        "broadcastjobs.apps.kruise.io",
        "advancedcronjobs.apps.kruise.io",
        "jobs.batch",
        "nodes",  # cluster-scoped: the BroadcastJob worker's eligible nodes
        "statefulsets.apps.kruise.io",
        "uniteddeployments.apps.kruise.io",  # and its subsets' apps/v1 kinds
        "statefulsets.apps",
        "deployments.apps",
        "podunavailablebudgets.policy.kruise.io",
        "sidecarsets.apps.kruise.io",  # cluster-scoped; its pods and revisions are above
    )
    reads = [f"{verb} {resource}" for verb in ("get", "list", "watch") for resource in watched]
    write_verbs = ("create", "update", "patch", "delete")
    # every write verb on the CloneSet worker's kinds, two on the job workers' (each can-i is a call)
    writes = [f"{verb} {resource}" for verb in write_verbs for resource in watched[:4]]
    writes += [f"{verb} {resource}" for verb in ("create", "patch") for resource in watched[4:]]
    elsewhere = "default"
    _assert_matrix(
        kubectl,
        sa,
        elsewhere,
        allowed=reads,
        refused=[
            *writes,
            "create events",
            "patch events",
            "patch clonesets.apps.kruise.io --subresource=status",
            "get secrets",
            "list configmaps",
            "update nodes --subresource=status",
            "watch replicasets.apps",
            "list resourcedistributions.apps.kruise.io",
            "delete events",
            "create leases.coordination.k8s.io",
            "deletecollection pods",
        ],
    )
    lease = f"leases.coordination.k8s.io/{name}-flotilla-watcher"
    _assert_matrix(
        kubectl,
        sa,
        namespace,
        allowed=["create leases.coordination.k8s.io", f"get {lease}", f"update {lease}"],
        refused=[
            f"delete {lease}",
            "get leases.coordination.k8s.io/someone-else",
            "update leases.coordination.k8s.io/someone-else",
            "list leases.coordination.k8s.io",
            "get secrets",
        ],
    )


def test_cloneset_worker_may_only_write_what_it_owns(kubectl: Kubectl, release: tuple[str, str, str]) -> None:
    name, namespace, _ = release
    sa = f"system:serviceaccount:{namespace}:{name}-flotilla-worker-cloneset"
    _assert_matrix(
        kubectl,
        sa,
        "default",
        allowed=CLONESET_WORKER_NEEDS,
        refused=[
            "create clonesets.apps.kruise.io",
            "update clonesets.apps.kruise.io",
            "delete clonesets.apps.kruise.io",
            "list clonesets.apps.kruise.io",
            "watch clonesets.apps.kruise.io",
            "get clonesets.apps.kruise.io --subresource=status",
            "update clonesets.apps.kruise.io --subresource=scale",
            "get pods",
            "update pods",
            "update pods --subresource=status",
            "get persistentvolumeclaims",
            "get controllerrevisions.apps",
            "update controllerrevisions.apps",
            "get imagepulljobs.apps.kruise.io",
            "update imagepulljobs.apps.kruise.io",
            "patch imagepulljobs.apps.kruise.io",
            "watch imagepulljobs.apps.kruise.io",
            "watch pods",
            "deletecollection pods",
            "create pods --subresource=eviction",
            "update persistentvolumeclaims",
            "watch persistentvolumeclaims",
            "get secrets",
            "list nodes",
            "watch nodes",
            "update nodes",
            "patch nodes",
            "delete nodes",
            "update nodes --subresource=status",
            "create deployments.apps",
            "get statefulsets.apps.kruise.io",
            "create leases.coordination.k8s.io",
            "delete events",
            "get configmaps",
        ],
    )
    stranger = f"system:serviceaccount:default:{name}-flotilla-worker-cloneset"
    refused = ["create pods", "list clonesets.apps.kruise.io"]
    _assert_matrix(kubectl, stranger, "default", allowed=[], refused=refused)


#: What workers/broadcastjob, workers/advancedcronjob, workers/uniteddeployment and
#: workers/podunavailablebudget call (charts/flotilla/values.yaml's rules say which code makes each
#: call), and what none of them needs.
JOB_WORKERS_NEED = {
    "broadcastjob": [
        "get broadcastjobs.apps.kruise.io",
        "delete broadcastjobs.apps.kruise.io",
        "update broadcastjobs.apps.kruise.io --subresource=status",
        "patch broadcastjobs.apps.kruise.io --subresource=status",
        "update broadcastjobs.apps.kruise.io --subresource=finalizers",
        "list pods",
        "create pods",
        "delete pods",
        "list nodes",
        "create events",
        "patch events",
    ],
    "advancedcronjob": [
        "get advancedcronjobs.apps.kruise.io",
        "update advancedcronjobs.apps.kruise.io --subresource=status",
        "patch advancedcronjobs.apps.kruise.io --subresource=status",
        "update advancedcronjobs.apps.kruise.io --subresource=finalizers",
        "list jobs.batch",
        "create jobs.batch",
        "delete jobs.batch",
        "list broadcastjobs.apps.kruise.io",
        "create broadcastjobs.apps.kruise.io",
        "delete broadcastjobs.apps.kruise.io",
        "create events",
        "patch events",
    ],
    # each call once per resource (tests/unit/helm/test_helm_uniteddeployment.py checks the role
    # against every call the planner's plans make; each can-i here costs a kubectl run)
    "uniteddeployment": [
        "get uniteddeployments.apps.kruise.io",
        "update uniteddeployments.apps.kruise.io --subresource=status",
        "create clonesets.apps.kruise.io",
        "patch statefulsets.apps.kruise.io",
        "delete statefulsets.apps",
        "list deployments.apps",
        "create controllerrevisions.apps",
        "list pods",
        "patch pods",
    ],
    "podunavailablebudget": [
        "get podunavailablebudgets.policy.kruise.io",
        "update podunavailablebudgets.policy.kruise.io --subresource=status",
        "patch pods",
        "get deployments.apps",
        "list replicasets.apps",
    ],
    "sidecarset": [
        "get sidecarsets.apps.kruise.io",
        "update sidecarsets.apps.kruise.io --subresource=status",
        "list namespaces",
        "patch pods",
        "patch pods --subresource=status",
        "create controllerrevisions.apps",
    ],
}
JOB_WORKERS_REFUSED = {
    "broadcastjob": [
        "create broadcastjobs.apps.kruise.io",
        "update broadcastjobs.apps.kruise.io",
        "list broadcastjobs.apps.kruise.io",
        "update pods",
        "patch pods",
        "get secrets",
        "update nodes",
        "patch nodes",
        "delete nodes",
        "create jobs.batch",
        "list clonesets.apps.kruise.io",
    ],
    "advancedcronjob": [
        "create advancedcronjobs.apps.kruise.io",
        "update advancedcronjobs.apps.kruise.io",
        "delete advancedcronjobs.apps.kruise.io",
        "update jobs.batch",
        "patch broadcastjobs.apps.kruise.io",
        "create pods",
        "list nodes",
        "get secrets",
    ],
    "uniteddeployment": [
        "update uniteddeployments.apps.kruise.io",
        "watch uniteddeployments.apps.kruise.io",
        "update clonesets.apps.kruise.io",
        "create pods",
        "delete pods",
        "get secrets",
    ],
    "podunavailablebudget": [
        "update podunavailablebudgets.policy.kruise.io",
        "delete pods",
        "patch deployments.apps",
        "get secrets",
    ],
    "sidecarset": [
        "update sidecarsets.apps.kruise.io",
        "create pods",
        "delete pods",
        "get secrets",
    ],
}


@pytest.mark.parametrize("kind", sorted(JOB_WORKERS_NEED))
def test_job_ud_and_pub_workers_of_the_default_release_may_only_make_their_calls(
    kubectl: Kubectl, release: tuple[str, str, str], kind: str
) -> None:
    name, namespace, _ = release
    sa = f"system:serviceaccount:{namespace}:{name}-flotilla-worker-{kind}"
    _assert_matrix(kubectl, sa, "default", allowed=JOB_WORKERS_NEED[kind], refused=JOB_WORKERS_REFUSED[kind])


def test_namespace_scoped_install_grants_only_in_the_watched_namespaces(
    kubeconfig: Path, kubectl: Kubectl, namespace: str
) -> None:
    name = f"fl-{secrets.token_hex(3)}"
    watched = f"{namespace}-w"
    kubectl("create", "namespace", watched)
    try:
        install(kubeconfig, name, namespace, "--set", f"watchNamespaces={{{watched}}}")
        worker = f"system:serviceaccount:{namespace}:{name}-flotilla-worker-cloneset"
        watcher = f"system:serviceaccount:{namespace}:{name}-flotilla-watcher"
        reads = [f"{verb} pods" for verb in ("get", "list", "watch")] + ["watch clonesets.apps.kruise.io"]
        _assert_matrix(
            kubectl, worker, watched, allowed=[*CLONESET_WORKER_NEEDS, "get nodes"], refused=["get pods"]
        )
        _assert_matrix(kubectl, watcher, watched, allowed=reads, refused=["create pods"])
        outside = "default"
        _assert_matrix(
            kubectl,
            worker,
            outside,
            allowed=["get nodes"],
            refused=["create pods", "list pods", "get clonesets.apps.kruise.io"],
        )
        _assert_matrix(kubectl, watcher, outside, allowed=[], refused=reads)
        deployment = get(kubectl, "-n", namespace, "deployment", f"{name}-flotilla-watcher")
        env = {
            e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["FLOTILLA_WATCH_NAMESPACE"] == watched
    finally:
        helm(kubeconfig, "uninstall", name, "--namespace", namespace, "--wait", check=False)
        kubectl("delete", "namespace", watched, "--wait=false", check=False)


def test_upgrade_scales_one_worker_type_and_uninstall_removes_all_but_crds(
    kubeconfig: Path, kubectl: Kubectl, namespace: str
) -> None:
    name = f"fl-{secrets.token_hex(3)}"
    full = f"{name}-flotilla"
    install(kubeconfig, name, namespace)
    watcher_before = get(kubectl, "-n", namespace, "deployment", f"{full}-watcher")
    helm(
        kubeconfig,
        "upgrade", name, str(CHART), "--namespace", namespace, "--reuse-values",
        "--set", "workers.cloneset.replicas=3", "--wait", "--timeout", "4m",
    )  # fmt: skip
    worker = get(kubectl, "-n", namespace, "deployment", f"{full}-worker-cloneset")
    assert worker["spec"]["replicas"] == 3
    assert worker["status"]["readyReplicas"] == 3
    watcher = get(kubectl, "-n", namespace, "deployment", f"{full}-watcher")
    generations = (watcher_before["metadata"]["generation"], watcher["metadata"]["generation"])
    assert generations[0] == generations[1], "the watcher is not touched"
    assert watcher["spec"]["replicas"] == 2
    history = json.loads(helm(kubeconfig, "history", name, "-n", namespace, "-o", "json").stdout)
    assert [entry["revision"] for entry in history] == [1, 2]
    assert history[-1]["status"] == "deployed"

    helm(kubeconfig, "uninstall", name, "--namespace", namespace, "--wait", "--timeout", "2m")
    for kind in ("deployment", "serviceaccount", "service", "poddisruptionbudget", "role", "rolebinding"):
        selector = f"app.kubernetes.io/instance={name}"
        leftovers = kubectl("get", kind, "-n", namespace, "-l", selector, "-o", "name")
        assert leftovers.stdout.strip() == "", f"{kind} left behind: {leftovers.stdout}"
    for kind in ("clusterrole", "clusterrolebinding"):
        leftovers = kubectl("get", kind, "-l", f"app.kubernetes.io/instance={name}", "-o", "name")
        assert leftovers.stdout.strip() == "", f"{kind} left behind: {leftovers.stdout}"
    eventually(lambda: get(kubectl, "-n", namespace, "pods")["items"] == [])
    assert exists(kubectl, "crd", "clonesets.apps.kruise.io"), "Helm keeps CRDs on uninstall"


def test_webhook_installed_by_helm_answers_a_real_admission(
    dev_env: DevEnvironment, kubeconfig: Path, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """The chart's webhook, run as its pod would (its ServiceAccount's token, its env), fills its
    Secret, sets caBundle, and refuses the deletion of a protected namespace with kruise's
    message; a helm upgrade keeps the caBundle it set; uninstall removes the registrations."""
    name = f"fl-{secrets.token_hex(3)}"
    full = f"{name}-flotilla"
    gates = "ResourcesDeletionProtection=true"
    install(kubeconfig, name, namespace, *set_args({"webhook.replicas": 1, "webhook.featureGates": gates}))
    protected = f"t-helm-protected-{secrets.token_hex(3)}"
    kubectl("create", "namespace", protected)
    kubectl("label", "namespace", protected, "policy.kruise.io/delete-protection=Always")
    secret_name = f"{full}-webhook-certs"
    deployment = f"{full}-webhook"

    def ca_bundles() -> set[str]:
        bundles = set()
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            for hook in get(kubectl, kind, f"{full}-webhook")["webhooks"]:
                bundles.add(hook["clientConfig"].get("caBundle", ""))
        return bundles

    def stored_ca() -> str:
        data = get(kubectl, "-n", namespace, "secret", secret_name).get("data") or {}
        return str(data.get("ca-cert.pem", ""))

    # First exactly as the pod runs: it fills the chart's empty Secret and sets caBundle.
    replicas = start_like_pods(
        dev_env, kubectl, namespace, deployment, tmp_path, {"FLOTILLA_WEBHOOK_PORT": "0"}
    )
    try:
        logs = lambda: replicas[-1].log.read_text(errors="replace")[-4000:]  # noqa: E731
        ca = poll(stored_ca, timeout=90, what=logs)
        poll(lambda: ca_bundles() == {ca}, timeout=90, what=logs)
        helm(
            kubeconfig,
            "upgrade", name, str(CHART), "--namespace", namespace, "--reuse-values",
            "--set", "logLevel=debug", "--wait", "--timeout", "4m",
        )  # fmt: skip
        assert ca_bundles() == {ca}, "an upgrade keeps the caBundle the webhook set"
        assert stored_ca() == ca, "and the Secret the webhook filled"
        for replica in replicas:
            replica.stop()
        # Then registered by URL on loopback (a pod would be reached through its Service).
        extra = {"FLOTILLA_WEBHOOK_URL_HOST": "127.0.0.1", "FLOTILLA_WEBHOOK_PORT": str(free_port())}
        replicas = start_like_pods(dev_env, kubectl, namespace, deployment, tmp_path, extra)

        def refusal() -> str:
            result = kubectl("delete", "namespace", protected, "--dry-run=server", check=False)
            return result.stderr if "denied the request" in result.stderr else ""

        message = poll(refusal, timeout=90, what=logs)
        assert (
            'admission webhook "vnamespace.kb.io" denied the request: forbidden by '
            "ResourcesProtectionDeletion for policy.kruise.io/delete-protection=Always"
        ) in message
        assert stored_ca() == ca, "the CA outlives a certificate renewed for new names"
        denials = authorization_denials(replicas[-1].log.read_text(errors="replace"))
        assert [line for line in denials if "resourcesprotectiondeletion" not in line] == [], logs()
    finally:
        for replica in replicas:
            replica.stop()
        helm(kubeconfig, "uninstall", name, "--namespace", namespace, "--wait", "--timeout", "2m")
        # The replicas ran with webhook.crdConversion (the default) and pointed the StatefulSet and
        # SidecarSet CRDs at their Service; after an uninstall they still do: set them back as
        # docs/deploy.md tells a user to, so the session's later tests read v1alpha1 again.
        reset = '{"spec":{"conversion":{"strategy":"None","webhook":null}}}'
        for crd in ("statefulsets.apps.kruise.io", "sidecarsets.apps.kruise.io"):
            kubectl("patch", "crd", crd, "--type=merge", "-p", reset, check=False)
        kubectl("label", "namespace", protected, "policy.kruise.io/delete-protection-", check=False)
        kubectl("delete", "namespace", protected, "--wait=false", check=False)
    for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
        assert not exists(kubectl, kind, f"{full}-webhook")


def test_a_bad_value_fails_helm_install_with_the_schema_message(
    kubeconfig: Path, kubectl: Kubectl, namespace: str
) -> None:
    name = f"fl-{secrets.token_hex(3)}"
    result = helm(
        kubeconfig,
        "install", name, str(CHART), "--namespace", namespace, "--set", "workers.cloneset.replicas=-1",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema(s)" in result.stderr
    assert "at '/workers/cloneset/replicas': minimum: got -1, want 0" in result.stderr
    releases = json.loads(helm(kubeconfig, "list", "-n", namespace, "-a", "-o", "json").stdout)
    assert releases == []
    assert kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_cloneset_worker_token_does_a_reconciles_writes_and_nothing_more(
    dev_env: DevEnvironment, kubectl: Kubectl, release: tuple[str, str, str], namespace: str, tmp_path: Path
) -> None:
    name, release_namespace, _ = release
    config = service_account_kubeconfig(
        kubectl, dev_env.kubeconfig, release_namespace, f"{name}-flotilla-worker-cloneset", tmp_path
    )

    def as_worker(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(dev_env.binaries["kubectl"]), f"--kubeconfig={config}", "-n", namespace, *args]
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=60, check=False)

    def allowed(*args: str, input: str | None = None) -> str:
        result = as_worker(*args, input=input)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def forbidden(*args: str) -> None:
        result = as_worker(*args)
        assert result.returncode != 0, f"kubectl {' '.join(args)} was allowed"
        assert "forbidden" in result.stderr.lower(), result.stderr

    cloneset = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "demo", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {
                "metadata": {"labels": {"app": "demo"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(cloneset))
    observed = json.loads(allowed("get", "clonesets.apps.kruise.io", "demo", "-o", "json"))
    owner = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "name": "demo",
        "uid": observed["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "demo-5f4b7", "labels": {"app": "demo"}, "ownerReferences": [owner]},
        "data": {"spec": {"template": cloneset["spec"]["template"]}},
        "revision": 1,
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-demo-x1", "labels": {"app": "demo"}, "ownerReferences": [owner]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "demo-x1", "labels": {"app": "demo"}, "ownerReferences": [owner]},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }
    allowed("create", "-f", "-", input=json.dumps(revision))
    allowed("create", "-f", "-", input=json.dumps(claim))
    created = json.loads(allowed("create", "-f", "-", "-o", "json", input=json.dumps(pod)))
    pod_owner = {"apiVersion": "v1", "kind": "Pod", "name": "demo-x1", "uid": created["metadata"]["uid"]}
    status = {"status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 0, "updatedReplicas": 1}}
    prune = {"spec": {"scaleStrategy": {"podsToDelete": None}}}
    revisions, claims = (
        Resource("apps", "v1", "controllerrevisions"),
        Resource("", "v1", "persistentvolumeclaims"),
    )
    clonesets = Resource("apps.kruise.io", "v1alpha1", "clonesets")

    async def patches_as_the_worker_sends_them() -> None:
        # The worker's own client: PATCH straight away, no GET first (kubectl patch GETs first).
        async with KubeClient.from_environment(config) as api:
            await api.patch(revisions.path(namespace, "demo-5f4b7"), {"revision": 2})
            await api.patch(
                PODS.path(namespace, "demo-x1"),
                {"metadata": {"labels": {"lifecycle.apps.kruise.io/state": "Normal"}}},
                "strategic",
            )
            await api.patch(
                claims.path(namespace, "data-demo-x1"), {"metadata": {"ownerReferences": [pod_owner]}}
            )
            await api.patch(clonesets.path(namespace, "demo", "status"), status)
            await api.patch(clonesets.path(namespace, "demo"), prune)

    asyncio.run(patches_as_the_worker_sends_them())
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "demo.successfulcreate"},
        "involvedObject": {
            **{k: owner[k] for k in ("apiVersion", "kind", "name", "uid")},
            "namespace": namespace,
        },
        "reason": "SuccessfulCreate",
        "message": "succeed to create pod demo-x1",
        "type": "Normal",
        "source": {"component": "flotilla-worker-cloneset"},
    }
    allowed("create", "-f", "-", input=json.dumps(event))
    allowed("delete", "pvc", "data-demo-x1", "--wait=false")  # before its owner pod: GC would take it
    allowed("delete", "pod", "demo-x1", "--wait=false")
    allowed("delete", "controllerrevisions.apps", "demo-5f4b7")

    forbidden("delete", "clonesets.apps.kruise.io", "demo")
    forbidden("scale", "clonesets.apps.kruise.io", "demo", "--replicas=5")
    forbidden("get", "secrets")
    forbidden("get", "configmaps")
    forbidden("create", "deployment", "nope", "--image=nginx:1.27")
    node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()
    allowed("get", "node", node)  # by name: the topology labels of a pod's node
    forbidden("get", "nodes")  # a list
    forbidden("label", "node", node, "flotilla.dev/test=touched")
    after = get(kubectl, "clonesets.apps.kruise.io", "demo", "-n", namespace)
    assert after["status"]["replicas"] == 1, "the status written as the worker is there"
