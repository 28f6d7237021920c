"""The SidecarSet routes' cluster reads: the pinned ControllerRevision (pod CREATE and SidecarSet
admission) and kruise's configuration ConfigMap (the patchPodMetadata whitelist).

Expected values worked by hand from kruise v1.9.1:

- ``getSuitableRevisionSidecarSet`` (pkg/webhook/pod/mutating/sidecarset.go:181-250) and
  ``getControllerRevision`` (pkg/control/sidecarcontrol/history_control.go:217-261): a
  ``revisionName`` is one GET in kruise's namespace, a ``customVersion`` the newest
  (``history.SortControllerRevisions``: revision, then creation time, then name) of the revisions
  labelled ``kruise.io/sidecarset-name`` + ``apps.kruise.io/sidecarset-custom-version``; none
  found: ``generateNotFoundError`` (history_control.go:308), the pod refused with 500
  (pod_create_update_handler.go:73-74);
- ``validateSidecarSetInjectionStrategy`` (pkg/webhook/sidecarset/validating/
  sidecarset_create_update_handler.go:192-215): ``Cannot find specific ControllerRevision, err: ...``
  at path ``revision`` with the nil SidecarSet as value (``"null"``), the policy check;
- ``ValidateSidecarSetPatchMetadataWhitelist`` (pkg/control/sidecarcontrol/util.go:546-594) via
  ``GetSidecarSetPatchMetadataWhiteList`` (pkg/util/configuration/configuration.go:36-52: no
  ConfigMap is no whitelist) as ``field.Required(spec.patchPodMetadata, err)``
  (sidecarset_create_update_handler.go:153-155), then the patch checks (:156-174).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from flotilla.runtime.errors import KubeError
from flotilla.runtime.features import feature_gates
from webhook.dispatch import MUTATE_PATH, VALIDATE_PATH, AdmissionConfig, admit, route_table
from webhook.review import AdmissionRequest, Verdict
from webhook.sidecarsetrevision import find, newest

WHITELIST = '{"rules":[{"allowedAnnotationKeyExprs":["^example\\\\.com/"]}]}'


def _sidecarset(name: str, image: str = "log:2", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {
            "name": name,
            "annotations": {
                "kruise.io/sidecarset-hash": "NEW",
                "kruise.io/sidecarset-hash-without-image": "NEWW",
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [
                {
                    "name": "logger",
                    "image": image,
                    "podInjectPolicy": "BeforeAppContainer",
                    "shareVolumePolicy": {"type": "disabled"},
                    "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
                }
            ],
            **spec,
        },
        "status": {"latestRevision": f"{name}-new"},
    }


def _revision(name: str, number: int, created: str, image: str = "log:1") -> dict[str, Any]:
    """A ControllerRevision as kruise's NewRevision writes it (history_control.go:66-106)."""
    return {
        "metadata": {
            "name": name,
            "namespace": "flotilla-system",
            "creationTimestamp": created,
            "labels": {"kruise.io/sidecarset-name": "log", "apps.kruise.io/sidecarset-custom-version": "v1"},
            "annotations": {
                "kruise.io/sidecarset-hash": f"{name}-h",
                "kruise.io/sidecarset-hash-without-image": f"{name}-hw",
            },
        },
        "revision": number,
        "data": {
            "spec": {
                "$patch": "replace",
                "containers": [{"name": "logger", "image": image, "podInjectPolicy": "BeforeAppContainer"}],
                "initContainers": None,
                "volumes": None,
                "imagePullSecrets": None,
                "patchPodMetadata": None,
            }
        },
    }


class _Cluster:
    """The reads the SidecarSet routes make, recorded (the unit seam around the pure handlers)."""

    def __init__(
        self,
        sidecarsets: Sequence[dict[str, Any]],
        revisions: Sequence[dict[str, Any]] = (),
        configuration: Mapping[str, str] | None = None,
        configuration_fails: bool = False,
    ) -> None:
        self.sidecarsets = list(sidecarsets)
        self.revisions = list(revisions)
        self.configuration = configuration
        self.configuration_fails = configuration_fails
        self.reads: list[str] = []

    async def list_sidecarsets(self) -> list[dict[str, Any]]:
        return self.sidecarsets

    async def injection_sidecarsets(self) -> list[dict[str, Any]]:
        return self.sidecarsets

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        return {}

    async def read_controller_revision(self, name: str) -> dict[str, Any] | None:
        self.reads.append(f"get {name}")
        return next((r for r in self.revisions if r["metadata"]["name"] == name), None)

    async def list_controller_revisions(self, label_selector: str) -> list[dict[str, Any]]:
        self.reads.append(f"list {label_selector}")
        wanted = dict(term.split("=") for term in label_selector.split(","))
        return [r for r in self.revisions if wanted.items() <= r["metadata"]["labels"].items()]

    async def kruise_configuration(self) -> Mapping[str, str] | None:
        self.reads.append("configuration")
        if self.configuration_fails:
            raise KubeError('configmaps "kruise-configuration" is forbidden: no RBAC')
        return self.configuration


def _pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "nginx"}]},
    }


def _create_pod(cluster: _Cluster) -> Verdict:
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", "p", object=_pod())
    config = AdmissionConfig(feature_gates({}))
    return asyncio.run(admit(route_table()[MUTATE_PATH], MUTATE_PATH, request, config, cluster))  # type: ignore[arg-type]


def _admit_sidecarset(cluster: _Cluster, obj: dict[str, Any], **gates: bool) -> Verdict:
    request = AdmissionRequest(
        "u", "apps.kruise.io", "v1beta1", "SidecarSet", "CREATE", "", obj["metadata"]["name"], object=obj
    )
    config = AdmissionConfig(feature_gates(gates))
    return asyncio.run(admit(route_table()[VALIDATE_PATH], VALIDATE_PATH, request, config, cluster))  # type: ignore[arg-type]


def _containers(verdict: Verdict) -> Any:
    return next(op["value"] for op in verdict.patch if op["path"] == "/spec/containers")


def _annotations(verdict: Verdict) -> Any:
    return next(op["value"] for op in verdict.patch if op["path"] == "/metadata/annotations")


# -- the lookup ------------------------------------------------------------------------------------


def test_newest_custom_version_revision_is_the_last_by_number_then_time_then_name() -> None:
    a = _revision("log-a", 3, "2026-01-01T00:00:05Z")
    b = _revision("log-b", 5, "2026-01-01T00:00:01Z")
    c = _revision("log-c", 4, "2026-01-01T00:00:09Z")
    assert newest([a, b, c])["metadata"]["name"] == "log-b"  # type: ignore[index]
    d = _revision("log-d", 5, "2026-01-01T00:00:02Z")
    e = _revision("log-e", 5, "2026-01-01T00:00:02Z")
    assert newest([e, d, b])["metadata"]["name"] == "log-e"  # type: ignore[index]
    assert newest([]) is None


def test_a_revision_name_is_one_get_and_a_custom_version_one_labelled_list() -> None:
    revisions = [_revision("log-a", 1, "2026-01-01T00:00:00Z"), _revision("log-b", 2, "2026-01-01T00:00:00Z")]
    by_name = _sidecarset("log", injectionStrategy={"revision": {"revisionName": "log-a"}})
    cluster = _Cluster([], revisions)
    assert asyncio.run(find(cluster, by_name))["metadata"]["name"] == "log-a"  # type: ignore[index]
    by_version = _sidecarset("log", injectionStrategy={"revision": {"customVersion": "v1"}})
    assert asyncio.run(find(cluster, by_version))["metadata"]["name"] == "log-b"  # type: ignore[index]
    assert cluster.reads == [
        "get log-a",
        "list kruise.io/sidecarset-name=log,apps.kruise.io/sidecarset-custom-version=v1",
    ]


# -- pod CREATE ------------------------------------------------------------------------------------


def test_a_pod_gets_the_pinned_custom_version_not_the_latest_spec() -> None:
    latest = _sidecarset("log", injectionStrategy={"revision": {"customVersion": "v1", "policy": "Always"}})
    cluster = _Cluster(
        [latest],
        [
            _revision("log-a", 1, "2026-01-01T00:00:00Z", "log:0"),
            _revision("log-b", 2, "2026-01-01T00:00:00Z"),
        ],
    )
    verdict = _create_pod(cluster)
    assert verdict.allowed, verdict.message
    sidecar = _containers(verdict)[0]
    assert (sidecar["name"], sidecar["image"]) == ("logger", "log:1")
    # buildSidecars records the restored set: the revision's hash, status.latestRevision = its name
    hashes = _annotations(verdict)["kruise.io/sidecarset-hash"]
    assert (
        '"hash":"log-b-h","sidecarSetName":"log","sidecarList":["logger"],"controllerRevision":"log-b"'
        in hashes
    )
    assert '"hash":"log-b-hw"' in _annotations(verdict)["kruise.io/sidecarset-hash-without-image"]


def test_a_pinned_revision_that_does_not_exist_refuses_the_pod_with_kruises_not_found() -> None:
    by_version = _sidecarset("log", injectionStrategy={"revision": {"customVersion": "v9"}})
    verdict = _create_pod(_Cluster([by_version]))
    assert (verdict.allowed, verdict.code, verdict.message) == (
        False,
        500,
        'ControllerRevision.apps "log" not found',
    )
    by_name = _sidecarset("log", injectionStrategy={"revision": {"revisionName": "log-zz"}})
    verdict = _create_pod(_Cluster([by_name]))
    assert (verdict.code, verdict.message) == (500, 'controllerrevisions.apps "log-zz" not found')


def test_revisions_are_read_only_for_pinned_sets_that_select_the_pod() -> None:
    other = _sidecarset("other", injectionStrategy={"revision": {"revisionName": "x"}})
    other["spec"]["selector"] = {"matchLabels": {"app": "db"}}
    paused = _sidecarset("paused", injectionStrategy={"paused": True, "revision": {"revisionName": "y"}})
    plain = _sidecarset("plain")
    cluster = _Cluster([other, paused, plain])
    verdict = _create_pod(cluster)
    assert verdict.allowed
    assert _containers(verdict)[0]["image"] == "log:2"
    assert cluster.reads == []


# -- SidecarSet admission --------------------------------------------------------------------------


def test_a_sidecarset_pinning_a_missing_revision_is_refused_with_kruises_message() -> None:
    obj = _sidecarset("log", injectionStrategy={"revision": {"revisionName": "log-zz", "policy": "Always"}})
    verdict = _admit_sidecarset(_Cluster([]), obj)
    assert (verdict.allowed, verdict.message) == (
        False,
        'revision: Invalid value: "null": Cannot find specific ControllerRevision, err: '
        'controllerrevisions.apps "log-zz" not found',
    )
    found = _admit_sidecarset(_Cluster([], [_revision("log-zz", 1, "2026-01-01T00:00:00Z")]), obj)
    assert found.allowed, found.message
    by_version = _sidecarset("log", injectionStrategy={"revision": {"customVersion": "v2"}})
    verdict = _admit_sidecarset(_Cluster([], [_revision("log-a", 1, "2026-01-01T00:00:00Z")]), by_version)
    assert verdict.message == (
        'revision: Invalid value: "null": Cannot find specific ControllerRevision, err: '
        'ControllerRevision.apps "log" not found'
    )


def test_an_unknown_revision_policy_is_refused() -> None:
    obj = _sidecarset("log", injectionStrategy={"revision": {"revisionName": "log-a", "policy": "Sometimes"}})
    verdict = _admit_sidecarset(_Cluster([], [_revision("log-a", 1, "2026-01-01T00:00:00Z")]), obj)
    assert not verdict.allowed
    assert verdict.message.startswith("revision.policy: Invalid value: ")
    assert verdict.message.endswith(": Invalid policy Sometimes, supported: [Always, Partial]")


def _patching(*patches: dict[str, Any]) -> dict[str, Any]:
    return _sidecarset("log", patchPodMetadata=list(patches))


def test_patch_pod_metadata_needs_kruises_whitelist() -> None:
    patch = {"annotations": {"example.com/agent": "on"}, "patchPolicy": "Overwrite"}
    no_configmap = _Cluster([])
    verdict = _admit_sidecarset(no_configmap, _patching(patch))
    assert (
        verdict.message
        == "spec.patchPodMetadata: Required value: SidecarSet patch metadata whitelist not found"
    )
    assert no_configmap.reads == ["configuration"]
    # no whitelist entry in the ConfigMap: the same
    assert _admit_sidecarset(_Cluster([], configuration={"other": "x"}), _patching(patch)).message == (
        "spec.patchPodMetadata: Required value: SidecarSet patch metadata whitelist not found"
    )
    # the gate SidecarSetPatchPodMetadataDefaultsAllowed lets it through without one
    gated = _admit_sidecarset(_Cluster([]), _patching(patch), SidecarSetPatchPodMetadataDefaultsAllowed=True)
    assert gated.allowed, gated.message
    allowed = _Cluster([], configuration={"SidecarSet_PatchPodMetadata_WhiteList": WHITELIST})
    assert _admit_sidecarset(allowed, _patching(patch)).allowed
    other = {"annotations": {"other.io/agent": "on"}, "patchPolicy": "Retain"}
    assert _admit_sidecarset(allowed, _patching(other)).message == (
        "spec.patchPodMetadata: Required value: "
        "sidecarSet patch metadata annotation(other.io/agent) is not allowed"
    )
    # a rule whose selector does not select the SidecarSet's labels allows nothing
    selective = '{"rules":[{"selector":{"matchLabels":{"team":"a"}},"allowedAnnotationKeyExprs":[".*"]}]}'
    unselected = _Cluster([], configuration={"SidecarSet_PatchPodMetadata_WhiteList": selective})
    assert _admit_sidecarset(unselected, _patching(patch)).message == (
        "spec.patchPodMetadata: Required value: sidecarSet patch metadata annotation is not allowed"
    )


def test_a_set_without_patch_pod_metadata_reads_no_configuration_and_an_unreadable_one_refuses() -> None:
    plain = _Cluster([], configuration_fails=True)
    assert _admit_sidecarset(plain, _sidecarset("log")).allowed
    assert plain.reads == []
    patch = {"annotations": {"example.com/agent": "on"}, "patchPolicy": "Overwrite"}
    assert _admit_sidecarset(plain, _patching(patch)).message == (
        'spec.patchPodMetadata: Required value: configmaps "kruise-configuration" is forbidden: no RBAC'
    )


def test_patch_checks_after_the_whitelist() -> None:
    allowed = _Cluster(
        [],
        configuration={
            "SidecarSet_PatchPodMetadata_WhiteList": '{"rules":[{"allowedAnnotationKeyExprs":[".*"]}]}'
        },
    )
    twice = _patching(
        {"annotations": {"example.com/a": "1"}, "patchPolicy": "Retain"},
        {"annotations": {"example.com/a": "2"}, "patchPolicy": "Overwrite"},
    )
    assert _admit_sidecarset(allowed, twice).message == (
        "spec.patchPodMetadata: Required value: patch annotation[example.com/a] already exist"
    )
    empty = _patching({"annotations": {}, "patchPolicy": "Retain"})
    assert _admit_sidecarset(allowed, empty).message == (
        "spec.patchPodMetadata: Required value: no annotations defined for SidecarSet"
    )
    bad_key = _patching({"annotations": {"bad key": "1"}, "patchPolicy": "Retain"})
    assert _admit_sidecarset(allowed, bad_key).message == (
        'patchPodMetadata.annotations: Invalid value: "bad key": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
        "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


class _RevisionsUnreadable(_Cluster):
    async def read_controller_revision(self, name: str) -> dict[str, Any] | None:
        raise KubeError('controllerrevisions.apps "log-a" is forbidden: no RBAC')


def test_an_unreadable_pinned_revision_refuses_the_sidecarset_with_the_error() -> None:
    """``GetHistorySidecarSet``'s error goes into the same detail
    (sidecarset_create_update_handler.go:201-204); kruise answers field errors with 500 (:79-85,
    :650-653)."""
    obj = _sidecarset("log", injectionStrategy={"revision": {"revisionName": "log-a"}})
    verdict = _admit_sidecarset(_RevisionsUnreadable([]), obj)
    assert (verdict.allowed, verdict.code, verdict.message) == (
        False,
        500,
        'revision: Invalid value: "null": Cannot find specific ControllerRevision, err: '
        'controllerrevisions.apps "log-a" is forbidden: no RBAC',
    )
