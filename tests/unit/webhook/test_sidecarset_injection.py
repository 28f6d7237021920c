"""Sidecar injection at pod CREATE (webhook.sidecarset.inject and the chained pod route).

Every expected pod below is worked by hand from kruise v1.9.1's ``sidecarsetMutatingPod`` /
``buildSidecars`` / ``mergeSidecarContainers`` / ``util.MergeVolumes`` / ``GetSidecarTransferEnvs``
(pkg/webhook/pod/mutating/sidecarset.go, pkg/control/sidecarcontrol/util.go): the sidecar is the
plain container plus ``IS_INJECTED=true`` then the transferred env, kruise's own fields dropped;
annotations are Go's JSON of ``map[string]SidecarSetUpgradeSpec`` (keys sorted, struct order
updateTimestamp, hash, sidecarSetName, sidecarList, controllerRevision)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from flotilla.runtime.errors import NotFound
from flotilla.runtime.features import feature_gates
from webhook.dispatch import MUTATE_PATH, VALIDATE_PATH, AdmissionConfig, admit, route_table
from webhook.review import AdmissionRequest
from webhook.sidecarset import InjectionError, inject

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
STAMP = "2026-01-02T03:04:05Z"
INJECTED = {"name": "IS_INJECTED", "value": "true"}


def _sidecarset(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {
            "name": name,
            "annotations": {
                "kruise.io/sidecarset-hash": f"{name}-h",
                "kruise.io/sidecarset-hash-without-image": f"{name}-hw",
            },
        },
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "containers": containers, **spec},
    }


def _sidecar(name: str, policy: str = "BeforeAppContainer", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"{name}:1",
        "podInjectPolicy": policy,
        "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
        "shareVolumePolicy": {"type": "disabled"},
        **fields,
    }


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "mesh": "envoy"}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}], **spec},
    }


def _apply(pod: Mapping[str, Any], ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply the patch's ``add`` ops (the only op inject writes) to a copy of ``pod``."""
    out: dict[str, Any] = json.loads(json.dumps(pod))
    for op in ops:
        assert op["op"] == "add"
        *parents, last = op["path"].strip("/").split("/")
        target = out
        for part in parents:
            target = target[part]
        target[last] = op["value"]
    return out


def _spec(name: str, digest: str, sidecars: list[str], revision: str = "") -> str:
    text = f'"updateTimestamp":"{STAMP}","hash":"{digest}","sidecarSetName":"{name}"'
    text += f',"sidecarList":{json.dumps(sidecars)}'
    return "{" + text + (f',"controllerRevision":"{revision}"' if revision else "") + "}"


def test_one_sidecar_before_the_app_with_kruise_annotations() -> None:
    ss = _sidecarset("log", [_sidecar("logger")])
    ss["status"] = {"latestRevision": "log-7b9"}
    pod = _apply(_pod(), inject(_pod(), [ss], None, NOW))
    assert pod["spec"]["containers"] == [
        {"name": "logger", "image": "logger:1", "env": [INJECTED]},
        {"name": "main", "image": "nginx"},
    ]
    assert pod["metadata"]["annotations"] == {
        "kruise.io/sidecarset-hash": '{"log":' + _spec("log", "log-h", ["logger"], "log-7b9") + "}",
        "kruise.io/sidecarset-hash-without-image": '{"log":' + _spec("log", "log-hw", ["logger"]) + "}",
        "kruise.io/sidecarset-injected-list": "log",
    }
    assert "volumes" not in pod["spec"]
    assert "imagePullSecrets" not in pod["spec"]


def test_after_app_init_containers_sorted_volumes_not_clobbered_secrets_merged() -> None:
    ss = _sidecarset(
        "mesh",
        [_sidecar("proxy", "AfterAppContainer", volumeMounts=[{"name": "certs", "mountPath": "/c"}])],
        initContainers=[_sidecar("z-init", "AfterAppContainer"), _sidecar("a-init", "AfterAppContainer")],
        volumes=[{"name": "certs", "hostPath": {"path": "/etc/certs"}}, {"name": "unused", "emptyDir": {}}],
        imagePullSecrets=[{"name": "reg"}, {"name": "mine"}],
    )
    pod = _pod(
        initContainers=[{"name": "app-init", "image": "busybox"}],
        volumes=[{"name": "certs", "emptyDir": {}}],
        imagePullSecrets=[{"name": "mine"}],
    )
    out = _apply(pod, inject(pod, [ss], None, NOW))
    assert [c["name"] for c in out["spec"]["containers"]] == ["main", "proxy"]
    # init containers: the pod's, then the SidecarSet's sorted by name
    assert [c["name"] for c in out["spec"]["initContainers"]] == ["app-init", "a-init", "z-init"]
    # the pod's own "certs" wins; "unused" is mounted by no sidecar, so not added
    assert out["spec"]["volumes"] == [{"name": "certs", "emptyDir": {}}]
    assert out["spec"]["imagePullSecrets"] == [{"name": "mine"}, {"name": "reg"}]
    # non-native init containers are not in the sidecar list
    assert json.loads(out["metadata"]["annotations"]["kruise.io/sidecarset-hash"])["mesh"]["sidecarList"] == [
        "proxy"
    ]


def test_sidecarset_volume_added_when_the_pod_lacks_it() -> None:
    ss = _sidecarset(
        "mesh",
        [_sidecar("proxy", volumeMounts=[{"name": "certs", "mountPath": "/c"}])],
        volumes=[{"name": "certs", "hostPath": {"path": "/etc/certs"}}],
    )
    out = _apply(_pod(), inject(_pod(), [ss], None, NOW))
    assert out["spec"]["volumes"] == [{"name": "certs", "hostPath": {"path": "/etc/certs"}}]


def test_share_volume_policy_and_transfer_env() -> None:
    app = {
        "name": "main",
        "image": "nginx",
        "env": [{"name": "POD", "value": "p"}, {"name": "ZONE", "value": "z1"}, {"name": "K", "value": "k"}],
        "volumeMounts": [
            {"name": "data", "mountPath": "/data", "subPathExpr": "$(POD)"},
            {"name": "logs", "mountPath": "/own"},
        ],
    }
    sidecar = _sidecar(
        "agent",
        shareVolumePolicy={"type": "enabled"},
        volumeMounts=[{"name": "own", "mountPath": "/own"}],
        env=[{"name": "ZONE", "value": "sidecar-wins"}],
        transferEnv=[
            {"sourceContainerName": "main", "envNames": ["K", "ZONE"]},
            {
                "sourceContainerNameFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
                "envName": "X",
            },
        ],
    )
    pod = _pod(containers=[app])
    out = _apply(pod, inject(pod, [_sidecarset("agent", [sidecar])], None, NOW))
    injected = out["spec"]["containers"][0]
    # /own is the sidecar's own mountPath: the app's mount there is not added
    assert injected["volumeMounts"] == [
        {"name": "own", "mountPath": "/own"},
        {"name": "data", "mountPath": "/data", "subPathExpr": "$(POD)"},
    ]
    # own env, IS_INJECTED, then transferred K (ZONE already present) and the subPathExpr's POD
    assert injected["env"] == [
        {"name": "ZONE", "value": "sidecar-wins"},
        INJECTED,
        {"name": "K", "value": "k"},
        {"name": "POD", "value": "p"},
    ]


def test_two_sidecarsets_selectors_namespaces_and_paused() -> None:
    sets = [
        _sidecarset("b", [_sidecar("b-side")]),
        _sidecarset("a", [_sidecar("a-side")]),
        _sidecarset("paused", [_sidecar("p-side")], injectionStrategy={"paused": True}),
        _sidecarset("other-app", [_sidecar("o-side")], selector={"matchLabels": {"app": "db"}}),
        _sidecarset("prod-only", [_sidecar("n-side")], namespaceSelector={"matchLabels": {"env": "prod"}}),
        _sidecarset("v1alpha1-ns", [_sidecar("v-side")], namespace="elsewhere"),
        _sidecarset("empty-selector", [_sidecar("e-side")], selector={}),
    ]
    out = _apply(_pod(), inject(_pod(), sets, {"env": "dev"}, NOW))
    assert [c["name"] for c in out["spec"]["containers"]] == ["a-side", "b-side", "main"]
    annotations = out["metadata"]["annotations"]
    assert annotations["kruise.io/sidecarset-injected-list"] == "a,b"
    assert list(json.loads(annotations["kruise.io/sidecarset-hash"])) == ["a", "b"]
    prod = _apply(_pod(), inject(_pod(), sets, {"env": "prod"}, NOW))
    assert [c["name"] for c in prod["spec"]["containers"]] == ["a-side", "b-side", "n-side", "main"]


def test_no_match_no_patch_and_inactive_pods_untouched() -> None:
    ss = _sidecarset("log", [_sidecar("logger")], selector={"matchLabels": {"app": "db"}})
    assert inject(_pod(), [ss], None, NOW) == []
    done = {**_pod(), "status": {"phase": "Succeeded"}}
    assert inject(done, [_sidecarset("log", [_sidecar("logger")])], None, NOW) == []


def test_hot_upgrade_pair() -> None:
    hot = _sidecar("envoy", upgradeStrategy={"upgradeType": "HotUpgrade", "hotUpgradeEmptyImage": "empty:1"})
    out = _apply(_pod(), inject(_pod(), [_sidecarset("mesh", [hot])], None, NOW))
    first, second, main = out["spec"]["containers"]
    assert (first["name"], first["image"], second["name"], second["image"], main["name"]) == (
        "envoy-1",
        "envoy:1",
        "envoy-2",
        "empty:1",
        "main",
    )
    assert first["env"] == [
        INJECTED,
        {
            "name": "SIDECARSET_VERSION",
            "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.annotations['version.sidecarset.kruise.io/envoy-1']"}
            },
        },
        {
            "name": "SIDECARSET_VERSION_ALT",
            "valueFrom": {
                "fieldRef": {"fieldPath": "metadata.annotations['versionalt.sidecarset.kruise.io/envoy-1']"}
            },
        },
    ]
    annotations = out["metadata"]["annotations"]
    assert annotations["kruise.io/sidecarset-working-hotupgrade-container"] == '{"envoy":"envoy-1"}'
    assert (
        annotations["version.sidecarset.kruise.io/envoy-1"],
        annotations["version.sidecarset.kruise.io/envoy-2"],
    ) == (
        "1",
        "0",
    )
    assert json.loads(annotations["kruise.io/sidecarset-hash"])["mesh"]["sidecarList"] == ["envoy"]


def test_a_malformed_hash_annotation_is_refused_as_kruise_does() -> None:
    pod = _pod()
    pod["metadata"]["annotations"] = {"kruise.io/sidecarset-hash": "not json"}
    with pytest.raises(
        InjectionError, match=r"^pod\(ns/p\) invalid annotations\[kruise.io/sidecarset-hash\]"
    ):
        inject(pod, [_sidecarset("log", [_sidecar("logger")])], None, NOW)


class _Cluster:
    """The two reads the SidecarSet routes make (the unit seam around the pure handlers)."""

    def __init__(self, sidecarsets: list[dict[str, Any]]) -> None:
        self.sidecarsets = sidecarsets

    async def list_sidecarsets(self) -> list[dict[str, Any]]:
        return self.sidecarsets

    async def injection_sidecarsets(self) -> list[dict[str, Any]]:
        return self.sidecarsets

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        return {}


def test_pod_create_route_chains_the_readiness_gate_and_the_sidecars() -> None:
    pod = _pod()
    pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "name": "c",
            "uid": "u",
            "controller": True,
        }
    ]
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", "p", object=pod)
    config = AdmissionConfig(feature_gates({}))
    cluster: Any = _Cluster([_sidecarset("log", [_sidecar("logger")])])
    verdict = asyncio.run(admit(route_table()[MUTATE_PATH], MUTATE_PATH, request, config, cluster))
    paths = [op["path"] for op in verdict.patch]
    assert paths == ["/spec/readinessGates", "/spec/containers", "/metadata/annotations"]


class _Unreadable(_Cluster):
    async def injection_sidecarsets(self) -> list[dict[str, Any]]:
        raise NotFound("the server could not find the requested resource", status=404)


def test_pods_are_created_without_sidecars_when_sidecarsets_cannot_be_read() -> None:
    pod = _pod()
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", "p", object=pod)
    cluster: Any = _Unreadable([])
    config = AdmissionConfig(feature_gates({}))
    verdict = asyncio.run(admit(route_table()[MUTATE_PATH], MUTATE_PATH, request, config, cluster))
    assert (verdict.allowed, verdict.patch) == (True, ())


def test_sidecarset_validation_route_refuses_a_conflicting_container() -> None:
    other = _sidecarset("first", [_sidecar("proxy")])
    new = _sidecarset(
        "second", [_sidecar("proxy")], selector={"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    )
    request = AdmissionRequest(
        "u", "apps.kruise.io", "v1beta1", "SidecarSet", "CREATE", "", "second", object=new
    )
    cluster: Any = _Cluster([other, new])
    verdict = asyncio.run(
        admit(
            route_table()[VALIDATE_PATH], VALIDATE_PATH, request, AdmissionConfig(feature_gates({})), cluster
        )
    )
    assert (verdict.allowed, verdict.code, verdict.message) == (
        False,
        500,
        'spec.containers: Invalid value: "proxy": container proxy already exist in first',
    )
