"""A SidecarSet upgrades the sidecars of pods in place, cold and hot, on the real control plane.

The pods carry sidecars injected as ``webhook.sidecarset.inject`` injects them: the injection is
applied to the workload's template by that pure function instead of by a webhook process (its
~40 s start is more than these tests' budget; the webhook's own integration test injects through
the API server). Each SidecarSet is stored as kruise's mutating webhook stores it
(``schemas.kruise.rules.default``: defaults and the two hashes). The watcher and the cloneset and
sidecarset workers are real processes shared by the module's tests (``conftest.py``).

- Cold: ten pods of a CloneSet (the Flotilla CloneSet worker) and a ``log`` sidecar upgraded with
  ``partition: 3`` and ``maxUnavailable: 2``; a pod watch checks at every moment that at most 2
  pods are unavailable (not Ready, or the sidecar not yet running its spec's image) and never
  more than 7 pods ask for the new image; at the end exactly 7 pods run it, the app container of
  every pod has its containerID and restartCount unchanged, no pod was created or deleted, and
  the status counts and revisions are kruise's.
- Hot: four pods of a Deployment (kube-controller-manager) and a HotUpgrade ``proxy`` sidecar
  upgraded twice, kwok restarting each container whose image changed (the kubelet's part, the
  empty image included); see the test's docstring for what the pod watch checks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from kubernetes import client as k8s

from flotilla.runtime.kube import PODS
from schemas.kruise import rules
from tests.support.polling import eventually_async
from tests.support.workerstack import Stack, watching_pods
from webhook.sidecarset import inject
from workers.sidecarset.planner import CONTROLLER_REVISIONS

GROUP, VERSION, PLURAL = "apps.kruise.io", "v1beta1", "sidecarsets"
REPLICAS, PARTITION, MAX_UNAVAILABLE = 10, 3, 2


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


def _injected_template(sidecarset: dict[str, Any], namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A pod template as the pod webhook would inject it (JSON patch 'add' ops applied)."""
    pod: dict[str, Any] = {
        "metadata": {"namespace": namespace, "labels": {"app": "web", **labels}, "annotations": {}},
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


async def test_sidecar_image_upgraded_in_place_with_partition_and_max_unavailable(
    api_client: k8s.ApiClient, sidecarset_stack: Stack, revision_namespace: str
) -> None:
    stack, namespace = sidecarset_stack, sidecarset_stack.namespace
    custom = k8s.CustomObjectsApi(api_client)
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
                "template": _injected_template(stored, namespace, {"sidecar-up": label}),
            },
        }
        custom.create_namespaced_custom_object("apps.kruise.io", "v1alpha1", namespace, "clonesets", cloneset)

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
            CONTROLLER_REVISIONS.path(revision_namespace),
            {"labelSelector": f"kruise.io/sidecarset-name={name}"},
        )
        by_number = sorted((r["revision"], r["metadata"]["name"]) for r in listed["items"])
        assert [n for n, _ in by_number] == [1, 2]
        assert by_number[0][1] == first["latestRevision"]
        assert by_number[1][1] == final["latestRevision"]
        assert final["observedGeneration"] == updated["metadata"]["generation"]
        assert final["collisionCount"] == 0
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)


HOT_REPLICAS, HOT_MAX_UNAVAILABLE = 4, 2
EMPTY = "proxy:empty"
WORKING = "kruise.io/sidecarset-working-hotupgrade-container"


def _hot_sidecarset(name: str, namespace: str, label: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SidecarSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"sidecar-hot": label}},
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "containers": [
                {
                    "name": "proxy",
                    "image": "proxy:v1",
                    "upgradeStrategy": {"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": EMPTY},
                }
            ],
            "updateStrategy": {"maxUnavailable": HOT_MAX_UNAVAILABLE},
        },
    }


def _pair(pod: dict[str, Any]) -> tuple[str, str]:
    """(working, idle) of the proxy pair, as the working-container annotation names them."""
    working = json.loads(pod["metadata"]["annotations"][WORKING])["proxy"]
    return working, ("proxy-2" if working == "proxy-1" else "proxy-1")


def _serving(pod: dict[str, Any], name: str) -> bool:
    """The container runs a sidecar (not the empty image) and is ready."""
    status = _container(pod, name)
    return bool(status.get("ready")) and status.get("image") not in (None, EMPTY)


def _env(pod: dict[str, Any], container: str, key: str) -> str:
    """What the container's ``key`` env reads: its downward-API annotation, checked to be the
    container's own ``version``/``versionalt`` annotation as kruise's injection writes it."""
    env = next(e for e in _container(pod, container, "spec").get("env") or () if e["name"] == key)
    prefix = "version" if key == "SIDECARSET_VERSION" else "versionalt"
    annotation = f"{prefix}.sidecarset.kruise.io/{container}"
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{annotation}']"
    return str(pod["metadata"]["annotations"].get(annotation, ""))


def _hot_unavailable(pod: dict[str, Any]) -> bool:
    """Unavailable to the SidecarSet's maxUnavailable: not Ready, its idle container not on the
    empty image (kruise's IsPodReady), or a container of the pair not yet running its spec."""
    _, idle = _pair(pod)
    pending = any(
        _container(pod, n).get("image") != _container(pod, n, "spec")["image"] for n in ("proxy-1", "proxy-2")
    )
    return not _ready(pod) or _container(pod, idle, "spec")["image"] != EMPTY or pending


async def test_hot_upgrade_always_keeps_one_of_the_pair_working_and_ready(
    api_client: k8s.ApiClient, sidecarset_stack: Stack
) -> None:
    """A Deployment's 4 pods carry a HotUpgrade ``proxy`` sidecar (``proxy-1`` on the image,
    ``proxy-2`` on the empty image); the SidecarSet goes v1 -> v2 -> v3 with maxUnavailable 2 and
    kwok restarts each container whose image changed. A pod watch checks, at every moment of
    both rounds and for every pod, that one of the pair serves (ready, not the empty image), that
    the annotated working container never asks for the empty image, that a container is asked to
    go back to the empty image only while the other one runs its new image, and that at most 2
    pods are mid-upgrade. Each round ends with the working container flipped and on the new
    image, the other on the empty image, SIDECARSET_VERSION / _ALT reading kruise's values, each
    of the pair restarted once and the app container never."""
    stack, namespace = sidecarset_stack, sidecarset_stack.namespace
    custom = k8s.CustomObjectsApi(api_client)
    label = f"hot-{os.urandom(3).hex()}"
    name = f"sidecarset-{label}"
    selector = f"sidecar-hot={label}"
    stored: Any = custom.create_cluster_custom_object(
        GROUP, VERSION, PLURAL, rules.default("SidecarSet", _hot_sidecarset(name, namespace, label))
    )
    try:
        template = _injected_template(stored, namespace, {"sidecar-hot": label})
        names = [c["name"] for c in template["spec"]["containers"]]
        assert names == ["proxy-1", "proxy-2", "main"], names  # BeforeAppContainer, the default
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "hot"},
            "spec": {
                "replicas": HOT_REPLICAS,
                "selector": {"matchLabels": {"sidecar-hot": label}},
                "template": template,
            },
        }
        k8s.AppsV1Api(api_client).create_namespaced_deployment(namespace, deployment)

        async def status(generation: int) -> dict[str, Any]:
            found = await stack.api.get(f"/apis/{GROUP}/{VERSION}/{PLURAL}/{name}")
            got = dict(found.get("status") or {})
            counts = ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods")
            done = got.get("observedGeneration") == generation and all(
                got.get(k) == HOT_REPLICAS for k in counts
            )
            return got if done else {}

        await eventually_async(
            lambda: status(stored["metadata"]["generation"]),
            within=90,
            what=f"{HOT_REPLICAS} pods injected, ready",
        )

        async def pods() -> dict[str, dict[str, Any]]:
            listed = await stack.api.get(PODS.path(namespace), {"labelSelector": selector})
            return {p["metadata"]["name"]: p for p in listed["items"]}

        before = await pods()
        assert len(before) == HOT_REPLICAS
        for pod in before.values():
            assert _pair(pod) == ("proxy-1", "proxy-2")
            assert [_env(pod, "proxy-1", k) for k in ("SIDECARSET_VERSION", "SIDECARSET_VERSION_ALT")] == [
                "1",
                "0",
            ]
            assert [_env(pod, "proxy-2", k) for k in ("SIDECARSET_VERSION", "SIDECARSET_VERSION_ALT")] == [
                "0",
                "1",
            ]
        app_before = {n: _container(p, "main")["restartCount"] for n, p in before.items()}

        for old_image, new_image, new_working in (
            ("proxy:v1", "proxy:v2", "proxy-2"),
            ("proxy:v2", "proxy:v3", "proxy-1"),
        ):
            previous = {n: _pair(p) for n, p in before.items()}
            restarts = {
                n: {c: _container(p, c)["restartCount"] for c in ("proxy-1", "proxy-2")}
                for n, p in before.items()
            }
            old_versions = {n: _env(p, previous[n][0], "SIDECARSET_VERSION") for n, p in before.items()}
            async with watching_pods(stack, selector) as watch:
                current: Any = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
                current["spec"]["containers"][0]["image"] = new_image
                updated: Any = custom.replace_cluster_custom_object(
                    GROUP, VERSION, PLURAL, name, rules.default("SidecarSet", current, current)
                )
                generation = int(updated["metadata"]["generation"])
                await eventually_async(
                    lambda: status(generation),  # noqa: B023 (awaited before the loop moves on)
                    within=90,
                    what=f"{HOT_REPLICAS} pods hot-upgraded to {new_image} and ready",
                )

            started: dict[str, dict[str, Any]] = {}  # each pod when its new container first ran the new image
            worst = 0
            for live in watch.history():
                assert set(live) == set(before), "no pod is created or deleted by a hot upgrade"
                worst = max(worst, sum(_hot_unavailable(p) for p in live.values()))
                for pod_name, pod in live.items():
                    working, idle = _pair(pod)
                    assert _serving(pod, "proxy-1") or _serving(pod, "proxy-2"), (
                        f"{pod_name}: no working sidecar"
                    )
                    assert _container(pod, working, "spec")["image"] != EMPTY, (
                        f"{pod_name}: working {working} emptied"
                    )
                    if (
                        _container(pod, idle, "spec")["image"] == EMPTY
                        and _container(pod, idle).get("image") != EMPTY
                    ):
                        early = f"{pod_name}: {idle} asked to go empty before {working} runs {new_image}"
                        assert _serving(pod, working), early
                        assert _container(pod, working)["image"] == new_image, early
                    if pod_name not in started and _container(pod, new_working).get("image") == new_image:
                        started[pod_name] = pod
            assert 1 <= worst <= HOT_MAX_UNAVAILABLE, f"{worst} pods mid-upgrade at once"
            assert set(started) == set(before), "the watch saw every new container start"

            for pod_name, pod in started.items():
                older = previous[pod_name][0]
                # the moment the new container starts, the old one still serves, and each reads
                # the other's version (the migration handshake of kruise's hot upgrade)
                assert _serving(pod, older), pod_name
                assert _container(pod, older)["image"] == old_image, pod_name
                version = _env(pod, new_working, "SIDECARSET_VERSION")
                assert int(version) >= int(updated["metadata"]["resourceVersion"]), (
                    version,
                    updated["metadata"],
                )
                assert _env(pod, new_working, "SIDECARSET_VERSION_ALT") == old_versions[pod_name]
                assert _env(pod, older, "SIDECARSET_VERSION") == old_versions[pod_name]
                assert _env(pod, older, "SIDECARSET_VERSION_ALT") == version

            after = await pods()
            for pod_name, pod in after.items():
                working, idle = _pair(pod)
                assert (working, idle) == (new_working, previous[pod_name][0]), pod_name
                assert [_container(pod, working, "spec")["image"], _container(pod, working)["image"]] == [
                    new_image
                ] * 2
                assert [_container(pod, idle, "spec")["image"], _container(pod, idle)["image"]] == [EMPTY] * 2
                assert _serving(pod, working)
                version = _env(pod, working, "SIDECARSET_VERSION")
                assert version == _env(started[pod_name], working, "SIDECARSET_VERSION")
                assert _env(pod, working, "SIDECARSET_VERSION_ALT") == "0"
                assert _env(pod, idle, "SIDECARSET_VERSION") == "0"
                assert _env(pod, idle, "SIDECARSET_VERSION_ALT") == version
                for container in ("proxy-1", "proxy-2"):
                    assert _container(pod, container)["restartCount"] == restarts[pod_name][container] + 1
                assert _container(pod, "main")["restartCount"] == app_before[pod_name], (
                    f"{pod_name}: app restarted"
                )
                spec = json.loads(pod["metadata"]["annotations"]["kruise.io/sidecarset-hash"])[name]
                assert spec["hash"] == updated["metadata"]["annotations"]["kruise.io/sidecarset-hash"]
            before = after
    finally:
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
