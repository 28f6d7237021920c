"""PodUnavailableBudget (``policy.kruise.io/v1alpha1``): a PDB that also guards in-place updates.

Follows kruise-api ``policy/v1alpha1/podunavailablebudget_types.go``. Enforced by the admission
webhook on Pod delete, eviction and update; its status is kept by the PUB worker.
"""

from __future__ import annotations

from pydantic import Field

from schemas.kruise.base import (
    Cel,
    Int32,
    Int64,
    IntOrPercent,
    KruiseModel,
    KruiseResource,
    PrinterColumn,
    ResourceInfo,
    Time,
)
from schemas.kruise.pub import LabelSelector
from schemas.kruise.rules import podunavailablebudget as pub_rules

PROTECT_OPERATIONS_ANNOTATION = "kruise.io/pub-protect-operations"
PROTECT_TOTAL_REPLICAS_ANNOTATION = "pub.kruise.io/protect-total-replicas"
NO_PROTECT_ANNOTATION = "pub.kruise.io/no-protect"
UNAVAILABLE_POD_LABEL_PREFIX = "unavailable-pod.kruise.io/"
#: On a pod: the PUB covering it (kruise ``pubcontrol.PodRelatedPubAnnotation``), set by the PUB
#: worker (and kruise's pod mutating webhook); the admission check finds the budget through it.
RELATED_PUB_ANNOTATION = "kruise.io/related-pub"


class TargetReference(KruiseModel):
    """A workload whose Pods the budget covers."""

    api_version: str | None = None
    """API version of the workload (e.g. apps.kruise.io/v1alpha1)."""
    kind: str | None = None
    """Kind of the workload (e.g. CloneSet)."""
    name: str | None = None
    """Name of the workload (same namespace)."""


class PodUnavailableBudgetSpec(KruiseModel):
    """The desired state of a PodUnavailableBudget."""

    selector: LabelSelector | None = None
    """Pods covered by the budget."""
    target_ref: TargetReference | None = None
    """A workload whose Pods the budget covers (wins over selector)."""
    max_unavailable: IntOrPercent | None = None
    """The most covered Pods that may be unavailable (wins over minAvailable)."""
    min_available: IntOrPercent | None = None
    """The fewest covered Pods that must stay available."""

    #: kruise's own messages (``schemas.kruise.rules.podunavailablebudget``), so the CRD refuses with
    #: the text kruise's webhook would (the API server runs these before any validating webhook).
    cel_rules = (
        Cel("has(self.selector) || has(self.targetRef)", pub_rules.NO_TARGET),
        Cel("!has(self.selector) || !has(self.targetRef)", pub_rules.BOTH_TARGETS),
        Cel("has(self.maxUnavailable) || has(self.minAvailable)", pub_rules.NO_BUDGET),
        Cel("!has(self.maxUnavailable) || !has(self.minAvailable)", pub_rules.BOTH_BUDGETS),
        Cel(
            "has(self.selector) == has(oldSelf.selector) && has(self.targetRef) == has(oldSelf.targetRef)"
            " && (!has(self.selector) || self.selector == oldSelf.selector)"
            " && (!has(self.targetRef) || self.targetRef == oldSelf.targetRef)",
            pub_rules.TARGET_CHANGED,
        ),
    )


class PodUnavailableBudgetStatus(KruiseModel):
    """The observed state of a PodUnavailableBudget."""

    observed_generation: Int64 = 0
    """The most recent generation observed by the controller."""
    disrupted_pods: dict[str, Time] | None = None
    """Pods whose deletion or eviction was admitted but not yet observed, with the admission time."""
    unavailable_pods: dict[str, Time] | None = None
    """Pods whose in-place update was admitted, until they are ready again."""
    unavailable_allowed: Int32 = 0
    """How many more Pods may become unavailable now."""
    current_available: Int32 = 0
    """Covered Pods available now."""
    desired_available: Int32 = 0
    """Covered Pods that must stay available."""
    total_replicas: Int32 = 0
    """Covered Pods in total."""


class PodUnavailableBudget(KruiseResource):
    """PodUnavailableBudget limits how many Pods may be unavailable through delete, evict or update."""

    info = ResourceInfo(
        group="policy.kruise.io",
        versions=("v1alpha1",),
        kind="PodUnavailableBudget",
        plural="podunavailablebudgets",
        short_names=("pub",),
        printer_columns=(
            PrinterColumn(
                "Allowed",
                "integer",
                ".status.unavailableAllowed",
                "UnavailableAllowed number of pod unavailable that are currently allowed",
            ),
            PrinterColumn(
                "Current",
                "integer",
                ".status.currentAvailable",
                "CurrentAvailable current number of available pods",
            ),
            PrinterColumn(
                "Desired",
                "integer",
                ".status.desiredAvailable",
                "DesiredAvailable minimum desired number of available pods",
            ),
            PrinterColumn(
                "Total",
                "integer",
                ".status.totalReplicas",
                "TotalReplicas total number of pods counted by this budget",
            ),
        ),
    )

    spec: PodUnavailableBudgetSpec
    """The desired state of the PodUnavailableBudget."""
    status: PodUnavailableBudgetStatus = Field(default_factory=PodUnavailableBudgetStatus)
    """The observed state of the PodUnavailableBudget."""
