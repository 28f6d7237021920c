"""A SidecarSet upgrades the sidecar of a CloneSet's pods in place, on the real control plane.

Ten pods of a CloneSet (the Flotilla CloneSet worker) carry a ``log`` sidecar injected as
``webhook.sidecarset.inject`` injects it: the injection is applied to the CloneSet's template by
that pure function instead of by a webhook process (its ~40 s start is more than this test's
budget; the webhook's own integration test injects through the API server). The SidecarSet is
stored as kruise's mutating webhook stores it (``schemas.kruise.rules.default``: defaults and the
two hashes). Then ``flotilla worker sidecarset`` (a real process, with its watcher) upgrades the
sidecar image with ``partition: 3`` and ``maxUnavailable: 2``; a pod watch checks at every moment
that at most 2 pods are unavailable (not Ready, or the sidecar not yet running its spec's image)
and never more than 7 pods ask for the new image; at the end exactly 7 pods run it, the app
container of every pod has its containerID and restartCount unchanged, no pod was created or
deleted, and the status counts and revisions are kruise's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import PODS, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.permissions import WATCHER_USER, worker_user
from schemas.bus.streams import worker_bus
from schemas.kruise import rules
from tests.support.natscreds import component_url
from tests.support.polling import eventually_async
from tests.support.workers import FLOTILLA, free_port
from tests.support.workerstack import Stack, _start, _stop, watching_pods
from webhook.sidecarset import inject
from workers.sidecarset.planner import CONTROLLER_REVISIONS

GROUP, VERSION, PLURAL = "apps.kruise.io", "v1beta1", "sidecarsets"
REPLICAS, PARTITION, MAX_UNAVAILABLE = 10, 3, 2
TYPES = ("cloneset", "sidecarset")


def _sidecarset(name: str, namespace: str, label: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"sidecar-up": label}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "containers": [{"name": "log", "image": "log:v1"}],
            "updateStrategy": {"partition": PARTITION, "maxUnavailable": MAX_UNAVAILABLE},
        },
    }


def _injected_template(sidecarset: dict[str, Any], namespace: str, label: str) -> dict[str, Any]:
    """The CloneSet template as the pod webhook would inject it (JSON patch 'add' ops applied)."""
    pod: dict[str, Any] = {
        "metadata": {
            "namespace": namespace,
            "labels": {"app": "web", "sidecar-up": label},
            "annotations": {},
        },
        "spec": {"containers": [{"name": "main", "image": "app:v1"}]},
    }
    ops = inject(pod, [sidecarset], {"kubernetes.io/metadata.name": namespace}, dt.datetime.now(dt.UTC))
    assert ops, "the SidecarSet must match the template"
    for op in ops:
        assert op["op"] == "add"
        _, section, field = op["path"].split("/")
        pod[section][field] = op["value"]
    return {"metadata": {"labels": pod["metadata"]["labels"], "annotations": pod["metadata"]["annotations"]},
            "spec": pod["spec"]}  # fmt: skip


def _container(pod: dict[str, Any], name: str, where: str = "status") -> dict[str, Any]:
    if where == "spec":
        return next(c for c in pod["spec"]["containers"] if c["name"] == name)
    return next((c for c in pod.get("status", {}).get("containerStatuses") or () if c["name"] == name), {})


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or ()
    )


def _unavailable(pod: dict[str, Any]) -> bool:
    return not _ready(pod) or _container(pod, "log").get("image") != _container(pod, "log", "spec")["image"]


@asynccontextmanager
async def _two_workers(
    dev_env: DevEnvironment,
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    """One watcher for both types and the cloneset and sidecarset workers, as worker_stack starts
    them (real processes, least-privilege NATS users), stopped together: two worker_stacks would
    start one more Python process and stop the four one after the other (~10 s more here)."""
    for worker_type in TYPES:
        await declare(jetstream, worker_bus(worker_type))
    ident = secrets.token_hex(3)
    logs = [tmp_path / "watcher.log", *(tmp_path / f"worker-{t}.log" for t in TYPES)]
    procs = [
        _start(
            [
                str(FLOTILLA), "watcher", f"--types={','.join(TYPES)}", f"--namespace={namespace}",
                f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={component_url(dev_env, WATCHER_USER)}",
                f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
                f"--http-port={free_port()}", "--resync-period=20",
            ],
            logs[0],
        ),
        *(
            _start(
                [
                    str(FLOTILLA), "worker", worker_type,
                    f"--nats-url={component_url(dev_env, worker_user(worker_type))}",
                    f"--kubeconfig={dev_env.kubeconfig}", f"--http-port={free_port()}",
                    "--backoff-base=0.2", "--backoff-max=2",
                ],
                log,
            )
            for worker_type, log in zip(TYPES, logs[1:], strict=True)
        ),
    ]  # fmt: skip
    try:
        async with KubeClient.from_environment(dev_env.kubeconfig) as api:
            stack = Stack(namespace, api, logs)
            yield stack
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(stack.log_text())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            _stop(proc)


async def test_sidecar_image_upgraded_in_place_with_partition_and_max_unavailable(
    api_client: k8s.ApiClient,
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    custom = k8s.CustomObjectsApi(api_client)
    monkeypatch.setenv("POD_NAMESPACE", namespace)  # the worker keeps the SidecarSet's revisions here
    label = f"up-{os.urandom(3).hex()}"
    name = f"sidecarset-{label}"
    stored: Any = custom.create_cluster_custom_object(
        GROUP, VERSION, PLURAL, rules.default("SidecarSet", _sidecarset(name, namespace, label))
    )
    try:
        cloneset = {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": {"sidecar-up": label}},
                "template": _injected_template(stored, namespace, label),
            },
        }
        custom.create_namespaced_custom_object("apps.kruise.io", "v1alpha1", namespace, "clonesets", cloneset)
        async with _two_workers(dev_env, jetstream, namespace, tmp_path, request) as stack:

            async def status(**want: int) -> dict[str, Any]:
                found = await stack.api.get(f"/apis/{GROUP}/{VERSION}/{PLURAL}/{name}")
                got = found.get("status") or {}
                return dict(got) if all(got.get(k) == v for k, v in want.items()) else {}

            first = await eventually_async(
                lambda: status(matchedPods=REPLICAS, updatedPods=REPLICAS, readyPods=REPLICAS),
                within=90,
                what=f"{REPLICAS} pods matched, updated and ready",
            )

            async def pods() -> dict[str, dict[str, Any]]:
                listed = await stack.api.get(PODS.path(namespace), {"labelSelector": f"sidecar-up={label}"})
                return {p["metadata"]["name"]: p for p in listed["items"]}

            before = await pods()
            app_before = {n: _container(p, "main") for n, p in before.items()}
            assert len(before) == REPLICAS

            async with watching_pods(stack, f"sidecar-up={label}") as watch:
                current: Any = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
                current["spec"]["containers"][0]["image"] = "log:v2"
                updated: Any = custom.replace_cluster_custom_object(
                    GROUP, VERSION, PLURAL, name, rules.default("SidecarSet", current, current)
                )
                done = REPLICAS - PARTITION
                final = await eventually_async(
                    lambda: status(
                        matchedPods=REPLICAS, updatedPods=done, updatedReadyPods=done, readyPods=REPLICAS
                    ),
                    within=90,
                    what=f"{done} pods updated and ready, {PARTITION} kept by the partition",
                )

            worst_unavailable = worst_asked = 0
            for live in watch.history():
                worst_unavailable = max(worst_unavailable, sum(_unavailable(p) for p in live.values()))
                asked = sum(_container(p, "log", "spec")["image"] == "log:v2" for p in live.values())
                worst_asked = max(worst_asked, asked)
                assert set(live) == set(before), "no pod is created or deleted by a sidecar upgrade"
            assert worst_unavailable <= MAX_UNAVAILABLE, f"{worst_unavailable} pods unavailable at once"
            assert worst_unavailable >= 1, "the watch saw the in-place updates happen"
            assert worst_asked == done

            after = await pods()
            running = sorted(_container(p, "log")["image"] for p in after.values())
            assert running == ["log:v1"] * PARTITION + ["log:v2"] * done
            for pod_name, pod in after.items():
                app = _container(pod, "main")
                # kwok counts a container's restarts (restartCount + 1 when its image swaps); the
                # containerID is compared too where the cluster's kwok writes one
                assert (app.get("containerID"), app["restartCount"]) == (
                    app_before[pod_name].get("containerID"),
                    app_before[pod_name]["restartCount"],
                ), f"{pod_name}: the app container restarted"
                assert _container(pod, "main", "spec")["image"] == "app:v1"
                log = _container(pod, "log")
                assert log["restartCount"] == (1 if log["image"] == "log:v2" else 0)
                if log["image"] == "log:v2":
                    annotations = pod["metadata"]["annotations"]
                    spec = json.loads(annotations["kruise.io/sidecarset-hash"])[name]
                    assert spec["hash"] == updated["metadata"]["annotations"]["kruise.io/sidecarset-hash"]
                    assert spec["controllerRevision"] == final["latestRevision"]
                    state = json.loads(annotations["kruise.io/sidecarset-inplace-update-state"])[name]
                    assert state["lastContainerStatuses"] == {"log": {"imageID": "kwok://log:v1"}}

            listed = await stack.api.get(
                CONTROLLER_REVISIONS.path(namespace), {"labelSelector": f"kruise.io/sidecarset-name={name}"}
            )
            by_number = sorted((r["revision"], r["metadata"]["name"]) for r in listed["items"])
            assert [n for n, _ in by_number] == [1, 2]
            assert by_number[0][1] == first["latestRevision"]
            assert by_number[1][1] == final["latestRevision"]
            assert final["observedGeneration"] == updated["metadata"]["generation"]
            assert final["collisionCount"] == 0
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
