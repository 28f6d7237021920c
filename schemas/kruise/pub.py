"""Types several kruise kinds share (kruise-api ``apps/pub`` and its v1alpha1 helpers).

Label selectors, lifecycle hooks, the in-place update strategy, update priority and scatter
strategies, and the well-known label / annotation keys. Imported by the per-kind modules and
by the planners (``workers/*``) that act on these fields.
"""

from __future__ import annotations

from typing import Annotated, Literal

from schemas.kruise.base import Bounds, Cel, ConditionStatus, Int32, KruiseModel, KubeObject, Schemaless, Time
from schemas.kruise.rules.meta import SELECTOR_MISMATCH

# -- well-known keys ---------------------------------------------------------------------------
LIFECYCLE_STATE_LABEL = "lifecycle.apps.kruise.io/state"
LIFECYCLE_TIMESTAMP_ANNOTATION = "lifecycle.apps.kruise.io/timestamp"
INPLACE_UPDATE_READY_CONDITION = "InPlaceUpdateReady"
KRUISE_POD_READY_CONDITION = "KruisePodReady"
INPLACE_UPDATE_STATE_ANNOTATION = "apps.kruise.io/inplace-update-state"
INPLACE_UPDATE_GRACE_ANNOTATION = "apps.kruise.io/inplace-update-grace"
SPECIFIED_DELETE_LABEL = "apps.kruise.io/specified-delete"
CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
POD_DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
DELETE_PROTECTION_LABEL = "policy.kruise.io/delete-protection"

#: A pod template / PVC template: core JSON, schemaless in the CRD; labels typed for the selector rule.
PodTemplate = Annotated[KubeObject, Schemaless(properties=("metadata.labels",))]
ClaimTemplate = Annotated[KubeObject, Schemaless()]

_LABELS = "self.template.metadata.labels"
_HAS_LABELS = f"has(self.template.metadata) && has({_LABELS})"
#: The selector must select the pods the template makes (its matchLabels and matchExpressions hold
#: for ``spec.template.metadata.labels``); kruise's message (``rules.meta.SELECTOR_MISMATCH``).
SELECTOR_MATCHES_TEMPLATE = Cel(
    "(!has(self.selector.matchLabels) || self.selector.matchLabels.all(k,"
    f" {_HAS_LABELS} && k in {_LABELS} && {_LABELS}[k] == self.selector.matchLabels[k]))"
    " && (!has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e,"
    f" e.operator == 'In' ? ({_HAS_LABELS} && e.key in {_LABELS}"
    f" && has(e.values) && {_LABELS}[e.key] in e.values)"
    f" : e.operator == 'NotIn' ? (!({_HAS_LABELS} && e.key in {_LABELS})"
    f" || !has(e.values) || !({_LABELS}[e.key] in e.values))"
    f" : e.operator == 'Exists' ? ({_HAS_LABELS} && e.key in {_LABELS})"
    f" : !({_HAS_LABELS} && e.key in {_LABELS})))",
    SELECTOR_MISMATCH,
    field_path=".template.metadata.labels",
)

LifecycleState = Literal[
    "PreparingNormal", "Normal", "PreparingUpdate", "Updating", "Updated", "PreparingDelete"
]


#: A label value (at most 63 characters, as Kubernetes enforces; the bound keeps CEL costs low).
LabelValue = Annotated[str, Bounds(max_length=63)]
#: A label key (optional DNS-subdomain prefix of at most 253 characters, '/', name of at most 63).
LabelKey = Annotated[str, Bounds(max_length=317)]


class LabelSelectorRequirement(KruiseModel):
    """A selector requirement: a key, an operator and values."""

    key: LabelKey
    """The label key that the selector applies to."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key relates to the values: In, NotIn, Exists or DoesNotExist."""
    values: Annotated[list[LabelValue], Bounds(max_items=256)] | None = None
    """Values for In / NotIn (non-empty); must be empty for Exists / DoesNotExist."""


class LabelSelector(KruiseModel):
    """A label query (metav1.LabelSelector); requirements are ANDed, an empty selector matches everything."""

    match_labels: Annotated[dict[str, LabelValue], Bounds(max_properties=64)] | None = None
    """Label key/value pairs an object must all carry."""
    match_expressions: Annotated[list[LabelSelectorRequirement], Bounds(max_items=64)] | None = None
    """Label selector requirements, ANDed."""


class Condition(KruiseModel):
    """A status condition (type, status, last transition, reason, message)."""

    type: str
    """Type of the condition."""
    status: ConditionStatus
    """Status of the condition: True, False or Unknown."""
    last_transition_time: Time | None = None
    """Last time the condition transitioned from one status to another."""
    reason: str | None = None
    """The reason for the condition's last transition (CamelCase)."""
    message: str | None = None
    """A human readable message with details about the transition."""


class LifecycleHook(KruiseModel):
    """A gate: a Pod "matches" the hook while it carries all the handler labels and finalizers."""

    labels_handler: dict[str, str] | None = None
    """Labels a Pod must carry to match the hook."""
    finalizers_handler: list[str] | None = None
    """Finalizers a Pod must carry to match the hook."""
    mark_pod_not_ready: bool = False
    """Set the KruisePodReady condition False while in PreparingDelete / PreparingUpdate (restored at
    Updated). Only effective on the inPlaceUpdate and preDelete hooks; default false."""


class Lifecycle(KruiseModel):
    """Lifecycle hooks for Pods: pre-available (preNormal), pre-delete and in-place update."""

    pre_delete: LifecycleHook | None = None
    """The hook before a Pod is deleted."""
    in_place_update: LifecycleHook | None = None
    """The hook before a Pod is updated in place and after it has been updated."""
    pre_normal: LifecycleHook | None = None
    """The hook after a Pod is created and before it becomes Normal (available)."""


class InPlaceUpdateStrategy(KruiseModel):
    """Strategies for in-place update."""

    grace_period_seconds: Int32 = 0
    """Seconds between marking a Pod not-ready and updating its images in place."""


class UpdatePriorityOrderTerm(KruiseModel):
    """Order Pods by the integer at the end of the value of one label."""

    ordered_key: Annotated[LabelKey, Cel("self != ''", "order key can not be empty")]
    """Label key whose value (its trailing integer, e.g. 10 in 'sts-10') orders Pods; larger first."""


class UpdatePriorityWeightTerm(KruiseModel):
    """Pods matching the selector get the weight added to their priority."""

    weight: Annotated[
        Int32, Cel("self >= 0 && self <= 100", "weight must be valid number in the range 1-100")
    ]
    """Weight of this term, in the range 1-100."""
    match_selector: Annotated[
        LabelSelector,
        Cel(
            "has(self.matchLabels) || has(self.matchExpressions)",
            "selector can not be empty",
        ),
    ]
    """Selects Pods by their labels."""


class UpdatePriorityStrategy(KruiseModel):
    """The order Pods are updated in: by label order (orderPriority) or by weights (weightPriority).

    The CEL messages are kruise's (``UpdatePriorityStrategy.FieldsValidation``, apps/pub)."""

    order_priority: Annotated[list[UpdatePriorityOrderTerm], Bounds(max_items=64)] | None = None
    """Pods with the first key go first (sorted by its value), then the second key, then the rest."""
    weight_priority: Annotated[list[UpdatePriorityWeightTerm], Bounds(max_items=64)] | None = None
    """Pods are sorted by the sum of the weights of the terms they match, highest first."""

    cel_rules = (
        Cel(
            "!(has(self.orderPriority) && size(self.orderPriority) > 0"
            " && has(self.weightPriority) && size(self.weightPriority) > 0)",
            "only one of weightPriority and orderPriority can be used",
        ),
    )


class UpdateScatterTerm(KruiseModel):
    """Pods with this label key=value are spread evenly across the update order."""

    key: Annotated[LabelKey, Cel("self != ''", "key should not be empty")]
    """Label key."""
    value: LabelValue
    """Label value."""


UpdateScatterStrategy = Annotated[list[UpdateScatterTerm], Bounds(max_items=64)]
