"""Accumulates one Advanced StatefulSet plan: runtime actions, their Events, when to come back.

Actions are ``workers.runtime`` records executed in order by ``act``; a mutating action may
carry a Warning Event for its failure (kruise's ``FailedCreate`` / ``FailedDelete`` /
``FailedUpdate``; the message's ``{error}`` is the API error) and is followed by its success
Event, so Events follow outcomes as kruise's do. Messages are kruise's
(``recordPodEvent`` / ``recordClaimEvent``). A pod create or identity update may also carry the
set's status write for its failure (kruise's ``FailedCreatePod`` / ``FailedUpdatePod``
condition, ``{error}`` again the API error; see ``failurestatus``). An action may be best effort
(:class:`BestEffort`: image pre-download, whose failure kruise only logs). Also the REST
resources the worker touches.
Used by ``planner`` and ``update``; the result is a :class:`StatefulSetPlan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flotilla.runtime.kube import PODS, Resource
from workers.podmechanics.kube_json import JsonDict, JsonObject
from workers.podmechanics.podwrites import PatchPod
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.runtime.events import ObjectRef

STATEFULSETS = Resource("apps.kruise.io", "v1beta1", "statefulsets", "StatefulSet")
PVCS = Resource("", "v1", "persistentvolumeclaims")
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions")


@dataclass(frozen=True)
class BestEffort:
    """An action whose failure does not stop the plan (kruise only logs it: image pre-download,
    ``predownload``): what it is for the log, its Events on success and on failure (``{error}``:
    the API error), and whether AlreadyExists means done (a create with a deterministic name)."""

    note: str
    success: runtime.EmitEvent | None = None
    failure: runtime.EmitEvent | None = None
    exists_ok: bool = False


@dataclass(frozen=True)
class StatefulSetPlan(Plan):
    """A runtime plan whose actions may carry failure Events: ``(action index, Event)`` pairs, in
    the order they are emitted (an action may have more than one)."""

    failure_events: tuple[tuple[int, runtime.EmitEvent], ...] = ()
    failure_status: tuple[tuple[int, runtime.PatchObject], ...] = ()
    """``(action index, the set's status patch)`` to send when that action fails."""
    best_effort: tuple[tuple[int, BestEffort], ...] = ()
    """``(action index, how)`` of the actions whose failure does not stop the plan."""


@dataclass
class PlanBuilder:
    set_name: str
    namespace: str
    ref: ObjectRef
    actions: list[runtime.Action] = field(default_factory=list)
    failures: list[tuple[int, runtime.EmitEvent]] = field(default_factory=list)
    failure_status: list[tuple[int, runtime.PatchObject]] = field(default_factory=list)
    best_efforts: list[tuple[int, BestEffort]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def event(self, event_type: str, reason: str, message: str) -> runtime.EmitEvent:
        return runtime.EmitEvent(self.ref, reason, message, event_type)

    def _guarded(self, action: runtime.Action, failure: runtime.EmitEvent | None) -> None:
        if failure is not None:
            self.failures.append((len(self.actions), failure))
        self.actions.append(action)

    def _pod_event(self, verb: str, pod: str, ok: bool) -> runtime.EmitEvent:
        if ok:
            return self.event(
                "Normal",
                f"Successful{verb.title()}",
                f"{verb} Pod {pod} in StatefulSet {self.set_name} successful",
            )
        return self.event(
            "Warning",
            f"Failed{verb.title()}",
            f"{verb} Pod {pod} in StatefulSet {self.set_name} failed error: {{error}}",
        )

    def create_claim(self, claim: JsonDict, pod: str) -> int:
        """Create a PVC (kruise's ``createPersistentVolumeClaims``); the create's action index."""
        name = str(claim["metadata"]["name"])  # type: ignore[index]
        failure = self.event(
            "Warning",
            "FailedCreate",
            f"create Claim {name} for Pod {pod} in StatefulSet {self.set_name} failed error: {{error}}",
        )
        self._guarded(runtime.CreateObject(PVCS, self.namespace, claim), failure)
        index = len(self.actions) - 1
        self.actions.append(
            self.event(
                "Normal",
                "SuccessfulCreate",
                f"create Claim {name} Pod {pod} in StatefulSet {self.set_name} success",
            )
        )
        return index

    def create_pod(self, body: JsonDict) -> int:
        """Create a pod with kruise's Events; the create's action index."""
        name = str(body["metadata"]["name"])  # type: ignore[index]
        self._guarded(
            runtime.CreateObject(PODS, self.namespace, body), self._pod_event("create", name, False)
        )
        index = len(self.actions) - 1
        self.actions.append(self._pod_event("create", name, True))
        return index

    def delete_pod(self, name: str, uid: str) -> None:
        """kruise's ``deletePod``: a failed delete writes two Warnings, the pod control's
        (``recordPodEvent``) and ``deletePod``'s own ("failed to delete pod ...")."""
        self._guarded(
            runtime.DeleteObject(PODS, self.namespace, name, uid), self._pod_event("delete", name, False)
        )
        self.failures.append(
            (
                len(self.actions) - 1,
                self.event("Warning", "FailedDelete", f"failed to delete pod {name}: {{error}}"),
            )
        )
        self.actions.append(self._pod_event("delete", name, True))

    def update_pod(self, name: str, patch: JsonObject, *, evented: bool = True, subresource: str = "") -> int:
        """Strategic-merge patch a pod; ``evented``: kruise's ``UpdateStatefulPod`` Events. The
        patch's action index."""
        action = runtime.PatchObject(PODS, self.namespace, name, dict(patch), "strategic", subresource)
        if not evented:
            self.actions.append(action)
            return len(self.actions) - 1
        self._guarded(action, self._pod_event("update", name, False))
        index = len(self.actions) - 1
        self.actions.append(self._pod_event("update", name, True))
        return index

    def on_failure(self, indices: Sequence[int], status: runtime.PatchObject) -> None:
        """Send ``status`` (the set's status patch) if one of the actions at ``indices`` fails."""
        self.failure_status.extend((i, status) for i in indices)

    def pod_writes(self, writes: Sequence[PatchPod]) -> None:
        """The shared mechanics' pod writes (lifecycle, readiness, in-place), with their Events."""
        for write in writes:
            body = dict(write.patch)
            if write.resource_version:
                metadata = dict(body.get("metadata") or {})  # type: ignore[call-overload]
                metadata["resourceVersion"] = write.resource_version
                body["metadata"] = metadata
            action = runtime.PatchObject(
                PODS, self.namespace, write.name, body, write.patch_type, write.subresource
            )
            failure = write.failure_event
            self._guarded(
                action, self.event(failure.type, failure.reason, failure.message) if failure else None
            )
            if write.success_event is not None:
                ok = write.success_event
                self.actions.append(self.event(ok.type, ok.reason, ok.message))

    def patch(self, resource: Resource, name: str, patch: JsonObject) -> None:
        self.actions.append(runtime.PatchObject(resource, self.namespace, name, dict(patch)))

    def create(self, resource: Resource, body: JsonObject) -> None:
        self.actions.append(runtime.CreateObject(resource, self.namespace, dict(body)))

    def delete(self, resource: Resource, name: str, uid: str = "") -> None:
        self.actions.append(runtime.DeleteObject(resource, self.namespace, name, uid))

    def best_effort(self, action: runtime.Action, how: BestEffort) -> None:
        """An action whose failure is logged (and has its Event), the plan going on."""
        self.best_efforts.append((len(self.actions), how))
        self.actions.append(action)

    def warn(self, reason: str, message: str) -> None:
        self.actions.append(self.event("Warning", reason, message))

    def requeue(self, seconds: float) -> None:
        if seconds > 0:
            self.waits.append(seconds)

    def build(self, reason: str) -> StatefulSetPlan:
        created = sum(1 for a in self.actions if isinstance(a, runtime.CreateObject) and a.resource == PODS)
        deleted = sum(1 for a in self.actions if isinstance(a, runtime.DeleteObject) and a.resource == PODS)
        counts = [f"{n} pod(s) {verb}" for n, verb in ((created, "created"), (deleted, "deleted")) if n]
        return StatefulSetPlan(
            tuple(self.actions),
            min(self.waits) if self.waits else None,
            "; ".join([reason, *counts, *self.notes]),
            tuple(self.failures),
            tuple(self.failure_status),
            tuple(self.best_efforts),
        )
