"""Pod UPDATE through the mutating dispatch, as kruise v1.9.1 answers it (by hand from
pkg/webhook/pod/mutating/sidecarset.go and pod_create_update_handler.go).

kruise's ``sidecarsetMutatingPod`` takes UPDATE down the CREATE path, but returns before building
anything: its SidecarControl's ``IsPodAvailabilityChanged`` is false (sidecarset_control.go:211),
and ``injectPodReadinessGate`` skips everything but CREATE (pod_readiness.go:31). So a pod update
is admitted unchanged: a SidecarSet whose sidecar changed since the pod was created is not
re-injected (its worker upgrades sidecars in place), a matching SidecarSet created after the pod
is not injected late, and a kruise workload's pod gets no readiness gate. Each row is checked
against the CREATE of the same pod, which does inject, so no row can pass for want of a match.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, cast

import pytest

from webhook.dispatch import MUTATE_PATH, AdmissionConfig, Cluster, Facts, admit, route_table
from webhook.review import AdmissionRequest, Verdict
from webhook.sidecarset import inject_sidecars

CONFIG = AdmissionConfig.defaults()
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
CLONESET_OWNER = {
    "apiVersion": "apps.kruise.io/v1alpha1",
    "kind": "CloneSet",
    "name": "web",
    "controller": True,
}


class NoReads:
    """A cluster any read of which fails the test: kruise's answer to an UPDATE needs none."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"pod UPDATE read the cluster: {name}")


def _sidecarset(image: str) -> dict[str, Any]:
    """A SidecarSet as the API server serves it after its mutating webhook (defaults, hashes)."""
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {
            "name": "logging",
            "annotations": {
                "kruise.io/sidecarset-hash": f"hash-{image}",
                "kruise.io/sidecarset-hash-without-image": "hash-without-image",
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [
                {
                    "name": "agent",
                    "image": image,
                    "podInjectPolicy": "BeforeAppContainer",
                    "shareVolumePolicy": {"type": "disabled"},
                    "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
                    "volumeMounts": [{"name": "logs", "mountPath": "/logs"}],
                }
            ],
            "initContainers": [{"name": "init-agent", "image": "busybox:1.36"}],
            "volumes": [{"name": "logs", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "registry"}],
            "patchPodMetadata": [{"annotations": {"example.com/agent": "on"}, "patchPolicy": "Overwrite"}],
            "updateStrategy": {"type": "RollingUpdate", "partition": 0, "maxUnavailable": 1},
        },
        "status": {"latestRevision": "logging-abc"},
    }


def _pod(*, injected: bool, owner: bool = False, **metadata: Any) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [{"name": "main", "image": "nginx:1.25"}]
    annotations: dict[str, str] = {}
    if injected:  # as the pod's CREATE wrote it, the sidecar at agent:1.0
        containers.insert(
            0,
            {
                "name": "agent",
                "image": "agent:1.0",
                "env": [{"name": "IS_INJECTED", "value": "true"}],
                "volumeMounts": [{"name": "logs", "mountPath": "/logs"}],
            },
        )
        annotations = {
            "kruise.io/sidecarset-injected-list": "logging",
            "kruise.io/sidecarset-hash": '{"logging":{"hash":"hash-agent:1.0","sidecarSetName":"logging"}}',
        }
    meta: dict[str, Any] = {
        "name": "web-0",
        "namespace": "ns",
        "labels": {"app": "web"},
        "annotations": annotations,
        **metadata,
    }
    if owner:
        meta["ownerReferences"] = [CLONESET_OWNER]
    spec: dict[str, Any] = {"containers": containers}
    if injected:
        spec["volumes"] = [{"name": "logs", "emptyDir": {}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": "Running"}}


def _relabelled(pod: dict[str, Any]) -> dict[str, Any]:
    """The same pod with one more label: what a user's or a controller's update sends."""
    meta = pod["metadata"]
    return {**pod, "metadata": {**meta, "labels": {**meta["labels"], "tier": "front"}}}


def _update(old: dict[str, Any] | None, new: dict[str, Any] | None, sub_resource: str = "") -> Verdict:
    request = AdmissionRequest(
        "u", "", "v1", "Pod", "UPDATE", "ns", "web-0", sub_resource=sub_resource, object=new, old_object=old
    )
    routes = route_table()[MUTATE_PATH]
    return asyncio.run(admit(routes, MUTATE_PATH, request, CONFIG, cast(Cluster, NoReads())))


def _created(pod: dict[str, Any]) -> Verdict:
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=pod)
    return inject_sidecars(request, CONFIG, Facts(sidecarsets=(_sidecarset("agent:2.0"),), now=NOW))


@pytest.mark.parametrize(
    ("case", "old"),
    [
        # the SidecarSet's sidecar is at agent:2.0 now; the pod keeps agent:1.0 and its annotations
        ("injected at CREATE, the SidecarSet changed since", _pod(injected=True)),
        # kruise injects at CREATE only: no late sidecar, init container, volume or pull secret
        ("created before the SidecarSet existed", _pod(injected=False)),
        # injectPodReadinessGate: CREATE only
        ("a CloneSet's pod without the readiness gate", _pod(injected=False, owner=True)),
    ],
)
def test_an_update_is_admitted_unchanged(case: str, old: dict[str, Any]) -> None:
    assert _created(old).patch, f"{case}: the pod matches the SidecarSet (its CREATE injects)"
    verdict = _update(old, _relabelled(old))
    assert (verdict.allowed, verdict.patch, verdict.outcome) == (True, (), "allowed"), case


def test_an_in_place_sidecar_upgrade_keeps_its_new_image() -> None:
    """The SidecarSet worker upgrades the sidecar image in place with a pod update: the webhook
    must neither revert it nor re-stamp the hash annotations."""
    old = _pod(injected=True)
    new = _pod(injected=True)
    new["spec"]["containers"][0]["image"] = "agent:2.0"
    verdict = _update(old, new)
    assert (verdict.allowed, verdict.patch) == (True, ())


@pytest.mark.parametrize(
    ("old", "new", "sub_resource", "expected"),
    [
        # a subresource (status, ephemeralcontainers, resize) is skipped before anything is read
        (_pod(injected=False), _pod(injected=False), "status", (True, 200, "")),
        # not active (IsActivePod): being deleted, or Succeeded / Failed
        (None, _pod(injected=False, deletionTimestamp="2026-11-30T12:00:00Z"), "", (True, 200, "")),
        # kruise decodes the old pod next: an UPDATE without one is refused with its decoder's text
        (None, _pod(injected=False), "", (False, 500, "there is no content to decode")),
        # and the new pod before anything else (kruise: 400 from the decoder)
        (_pod(injected=False), None, "", (False, 400, "pod UPDATE without request.object")),
    ],
)
def test_what_kruise_skips_or_refuses_before_deciding(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    sub_resource: str,
    expected: tuple[bool, int, str],
) -> None:
    verdict = _update(old, new, sub_resource)
    assert (verdict.allowed, verdict.code, verdict.message) == expected
    assert verdict.patch == ()


def test_a_finished_pod_is_skipped() -> None:
    done = _pod(injected=False)
    done["status"] = {"phase": "Succeeded"}
    assert _update(None, done).allowed
