"""The four subset workload kinds and the workload one subset runs (kruise's ``adapter`` package).

:data:`KINDS` names, for each ``spec.template`` field, the workload resource (CloneSet,
Advanced StatefulSet, apps/v1 StatefulSet, Deployment). :func:`desired_workload` is kruise's
``ApplySubsetTemplate``: labels = template labels + selector matchLabels + the revision and
subset-name labels; annotations = template annotations + ``apps.kruise.io/subset-patch``;
``generateName`` ``<ud>-<subset>-``; the UnitedDeployment as controller owner; the template's
spec with the selector narrowed by subset name, ``replicas``, the partition (CloneSet
``updateStrategy.partition``; StatefulSets' ``rollingUpdate.partition`` when the strategy is
RollingUpdate or unset; Deployments have none), the pod template labelled with subset name and
revision, the subset's ``nodeSelectorTerm`` expressions added to every required node-affinity
term, its tolerations appended, then its ``patch`` merged strategically; under the reservation
strategy an unschedulable subset's ``maxUnavailable`` (the adapters' ``SetMaxUnavailable``).
:func:`workload_view` reads back what the planner compares (replicas, partition, status).
Pure; called by ``planner``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flotilla.runtime.kube import Resource
from workers.podmechanics.gohash import go_json
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    annotations_of,
    field,
    integer,
    labels_of,
    mapping,
    name_of,
    objects,
    thaw_object,
    uid_of,
)
from workers.uniteddeployment.strategic import strategic_merge

SUBSET_NAME_LABEL = "apps.kruise.io/subset-name"
REVISION_LABEL = "apps.kruise.io/controller-revision-hash"
SUBSET_PATCH_ANNOTATION = "apps.kruise.io/subset-patch"

UNITED_DEPLOYMENTS = Resource("apps.kruise.io", "v1alpha1", "uniteddeployments", "UnitedDeployment")


@dataclass(frozen=True)
class SubsetKind:
    """One template kind: the ``spec.template`` field, kruise's subset type name, the resource."""

    template_field: str
    type_name: str
    resource: Resource

    @property
    def has_partition(self) -> bool:
        return self.type_name != "Deployment"

    @property
    def max_unavailable_path(self) -> tuple[str, ...]:
        """Where the adapter's ``SetMaxUnavailable`` writes in the workload's spec."""
        if self.type_name == "CloneSet":
            return ("updateStrategy", "maxUnavailable")
        if self.type_name == "Deployment":
            return ("strategy", "rollingUpdate", "maxUnavailable")
        return ("updateStrategy", "rollingUpdate", "maxUnavailable")


KINDS: tuple[SubsetKind, ...] = (
    SubsetKind("statefulSetTemplate", "StatefulSet", Resource("apps", "v1", "statefulsets", "StatefulSet")),
    SubsetKind(
        "advancedStatefulSetTemplate",
        "AdvancedStatefulSet",
        Resource("apps.kruise.io", "v1beta1", "statefulsets", "StatefulSet"),
    ),
    SubsetKind(
        "cloneSetTemplate", "CloneSet", Resource("apps.kruise.io", "v1alpha1", "clonesets", "CloneSet")
    ),
    SubsetKind("deploymentTemplate", "Deployment", Resource("apps", "v1", "deployments", "Deployment")),
)


def template_kind(ud: JsonObject) -> SubsetKind | None:
    """The kind the UnitedDeployment's template sets (kruise's order: StatefulSet first)."""
    template = mapping(ud, "spec", "template")
    return next((kind for kind in KINDS if kind.template_field in template), None)


def subset_prefix(ud_name: str, subset: str) -> str:
    """``getSubsetPrefix``: ``<ud>-<subset>-``, or ``<ud>-`` when that is no DNS subdomain prefix."""
    prefix = f"{ud_name}-{subset}-"
    # NameIsDNSSubdomain(prefix=true) checks the prefix plus a generated suffix fits 253 characters
    if len(prefix) > 253 - 5:
        return f"{ud_name}-"
    return prefix


def patch_text(subset: JsonObject) -> str:
    """The subset's patch as kruise records it in ``apps.kruise.io/subset-patch`` (its raw JSON)."""
    patch = subset.get("patch")
    if patch is None:
        return ""
    return go_json(patch).decode()


def _attach_node_affinity(pod_spec: JsonDict, subset: JsonObject) -> None:
    expressions = list(objects(subset, "nodeSelectorTerm", "matchExpressions"))
    if not expressions:
        return
    affinity = pod_spec.setdefault("affinity", {})
    assert isinstance(affinity, dict)
    node_affinity = affinity.setdefault("nodeAffinity", {})
    assert isinstance(node_affinity, dict)
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    assert isinstance(required, dict)
    terms = required.get("nodeSelectorTerms")
    if not isinstance(terms, list) or not terms:
        terms = [{}]
    for term in terms:
        assert isinstance(term, dict)
        term["matchExpressions"] = [*term.get("matchExpressions", []), *(dict(e) for e in expressions)]
    required["nodeSelectorTerms"] = terms


def _attach_tolerations(pod_spec: JsonDict, subset: JsonObject) -> None:
    tolerations = subset.get("tolerations")
    if not isinstance(tolerations, list):
        return
    existing = pod_spec.get("tolerations")
    pod_spec["tolerations"] = [*(existing if isinstance(existing, list) else []), *tolerations]


@dataclass(frozen=True)
class SubsetTarget:
    """What one subset's workload should be: its replicas, partition and patch."""

    name: str
    replicas: int
    partition: int
    max_unavailable: int | None = None
    """kruise's ``SetMaxUnavailable`` for an unschedulable subset under reservation; None: the template's."""


def desired_workload(
    ud: JsonObject, kind: SubsetKind, subset: JsonObject, revision: str, target: SubsetTarget
) -> JsonDict:
    """The subset workload's metadata (no name: ``generateName``) and spec (``ApplySubsetTemplate``)."""
    template = mapping(ud, "spec", "template", kind.template_field)
    selector = thaw_object(mapping(ud, "spec", "selector"))
    match_labels = dict(mapping(selector, "matchLabels"))
    labels = {**labels_of(template), **match_labels, REVISION_LABEL: revision, SUBSET_NAME_LABEL: target.name}
    annotations = {**annotations_of(template), SUBSET_PATCH_ANNOTATION: patch_text(subset)}
    selector["matchLabels"] = {**match_labels, SUBSET_NAME_LABEL: target.name}
    spec = thaw_object(mapping(template, "spec"))
    spec["selector"] = selector
    spec["replicas"] = target.replicas
    strategy = thaw_object(spec.get("updateStrategy"))
    if kind.type_name == "CloneSet":
        strategy["partition"] = target.partition
        spec["updateStrategy"] = strategy
    elif kind.has_partition and str(strategy.get("type") or "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = thaw_object(strategy.get("rollingUpdate"))
        rolling["partition"] = target.partition
        strategy["rollingUpdate"] = rolling
        spec["updateStrategy"] = strategy
    pod_template = thaw_object(spec.get("template"))
    pod_meta = thaw_object(pod_template.get("metadata"))
    pod_meta["labels"] = {**labels_of(pod_template), SUBSET_NAME_LABEL: target.name, REVISION_LABEL: revision}
    pod_template["metadata"] = pod_meta
    pod_spec = thaw_object(pod_template.get("spec"))
    _attach_node_affinity(pod_spec, subset)
    _attach_tolerations(pod_spec, subset)
    pod_template["spec"] = pod_spec
    patch = subset.get("patch")
    if isinstance(patch, dict):
        pod_template = strategic_merge(pod_template, patch)
    spec["template"] = pod_template
    if target.max_unavailable is not None:
        *parents, leaf = kind.max_unavailable_path
        node = spec
        for key in parents:
            child = thaw_object(node.get(key))
            node[key] = child
            node = child
        node[leaf] = target.max_unavailable
    meta = mapping(ud, "metadata")
    owner = {
        "apiVersion": UNITED_DEPLOYMENTS.api_version,
        "kind": "UnitedDeployment",
        "name": name_of(ud),
        "uid": uid_of(ud),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": kind.resource.api_version,
        "kind": kind.resource.kind,
        "metadata": {
            "generateName": subset_prefix(name_of(ud), target.name),
            "namespace": str(meta.get("namespace", "")),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": spec,
    }


@dataclass(frozen=True)
class WorkloadView:
    """One existing subset workload as the planner compares it."""

    raw: JsonObject
    kind: SubsetKind
    subset: str
    replicas: int
    partition: int | None
    revision: str
    patch: str
    status_replicas: int
    status_ready: int
    max_unavailable: object = None
    """The value at :attr:`SubsetKind.max_unavailable_path` (int, percent string or None)."""

    @property
    def name(self) -> str:
        return name_of(self.raw)


def workload_view(raw: JsonObject, kind: SubsetKind) -> WorkloadView:
    labels = labels_of(raw)
    partition: int | None = None
    if kind.type_name == "CloneSet":
        value = field(raw, "spec", "updateStrategy", "partition")
        if isinstance(value, int):
            partition = value
        elif isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
            # GetScaledValueFromIntOrPercent(partition, replicas, roundUp=true)
            replicas = integer(raw, "spec", "replicas", default=1)
            partition = -(-replicas * int(value[:-1]) // 100)
    elif kind.has_partition:
        value = field(raw, "spec", "updateStrategy", "rollingUpdate", "partition")
        if isinstance(value, int):
            partition = value
    return WorkloadView(
        raw=raw,
        kind=kind,
        subset=labels.get(SUBSET_NAME_LABEL, ""),
        replicas=integer(raw, "spec", "replicas", default=1),
        partition=partition,
        revision=labels.get(REVISION_LABEL, ""),
        patch=annotations_of(raw).get(SUBSET_PATCH_ANNOTATION, ""),
        status_replicas=integer(raw, "status", "replicas"),
        status_ready=integer(raw, "status", "readyReplicas"),
        max_unavailable=field(raw, "spec", *kind.max_unavailable_path),
    )
