"""The SidecarSet planner: kruise's ``Processor.UpdateSidecarSet``, observed state in, a plan out.

One pass: refuse an invalid spec (``workers.runtime.specrefusal``: Warning Events once per
generation, marked in an annotation since kruise's SidecarSet status has no conditions); keep the
pods that are active, injected by this SidecarSet (``kruise.io/sidecarset-injected-list``) and carry
all its sidecars; make the latest ControllerRevision (``revisions``); compute the status
(matchedPods, updatedPods, readyPods, updatedReadyPods, latestRevision, observedGeneration,
collisionCount) and write it when it changed; then, unless ``updateStrategy.type`` is NotUpdate or
``paused`` is set: reset the idle container of each finished hot upgrade to the empty image (and do
nothing else this pass), and, unless every pod is updated, upgrade the next pods
(``strategy.next_upgrade_pods``) in place: the new sidecar images and kruise's annotations in one
pod patch, then the pod's ``SidecarSetUpgradable`` condition True; a pod whose sidecars changed
beyond their images gets it False and the SidecarSet a ``NotUpgradablePods`` Event. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from flotilla.runtime.kube import PODS, Resource
from schemas.kruise import rules
from schemas.kruise.sidecarset import (
    SIDECARSET_HASH_ANNOTATION,
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION,
    SidecarSet,
)
from workers.podmechanics.kube_json import JsonDict, JsonObject, as_object, as_text, integer, thaw_object
from workers.podmechanics.pods import PodView, is_active, read_pod
from workers.podmechanics.sidecarmeta import MetadataPatchError
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, TerminalError
from workers.runtime.events import ObjectRef
from workers.runtime.specrefusal import refusal_plan
from workers.sidecarset import revisions as history
from workers.sidecarset.control import (
    SetView,
    flip_patch,
    hot_upgrading_ready,
    in_hot_upgrading,
    is_consistent_with_set,
    is_injected,
    is_pod_ready,
    is_state_consistent,
    is_updated,
    pod_controller_revision,
    read_set,
    upgradable_condition,
    upgrade_patch,
    working_sidecars,
)
from workers.sidecarset.strategy import next_upgrade_pods

SIDECARSETS = Resource("apps.kruise.io", "v1beta1", "sidecarsets", "SidecarSet", namespaced=False)
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions", "ControllerRevision")


@dataclass(frozen=True)
class ObservedSidecarSet:
    raw: JsonObject
    """The SidecarSet as stored."""
    pods: tuple[JsonObject, ...]
    """The pods its selector matches in the namespaces it covers."""
    revisions: tuple[JsonObject, ...]
    """ControllerRevisions labelled ``kruise.io/sidecarset-name: <name>`` in ``revision_namespace``."""
    revision_namespace: str


def _hashes(raw: JsonObject, defaulted: JsonObject) -> tuple[str, str]:
    """The stored hash annotations (what kruise's webhook and pods agree on); computed from the
    defaulted spec only when the SidecarSet was stored without the webhook."""
    stored = as_object(as_object(raw.get("metadata")).get("annotations"))
    computed = as_object(as_object(defaulted.get("metadata")).get("annotations"))
    return (
        as_text(stored.get(SIDECARSET_HASH_ANNOTATION)) or as_text(computed.get(SIDECARSET_HASH_ANNOTATION)),
        as_text(stored.get(SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION))
        or as_text(computed.get(SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION)),
    )


def matched_pods(view: SetView, spec: JsonObject, pods: Sequence[JsonObject]) -> list[PodView]:
    """``getMatchingPods``' filter: active, injected by this set, carrying all its sidecars."""
    out = []
    for raw in pods:
        pod = read_pod(raw)
        if is_active(pod) and is_injected(pod, view) and is_consistent_with_set(pod, spec):
            out.append(pod)
    return sorted(out, key=lambda p: (as_text(as_object(p.raw.get("metadata")).get("namespace")), p.name))


def status_of(
    view: SetView, pods: Sequence[PodView], generation: int, latest: str, collision: int
) -> dict[str, object]:
    """``calculateStatus``."""
    updated = ready = updated_ready = 0
    for pod in pods:
        is_up = is_updated(pod, view)
        updated += is_up
        if is_state_consistent(pod, view) and is_pod_ready(pod, view):
            ready += 1
            updated_ready += is_up
    return {
        "observedGeneration": generation,
        "matchedPods": len(pods),
        "updatedPods": updated,
        "readyPods": ready,
        "updatedReadyPods": updated_ready,
        "latestRevision": latest,
        "collisionCount": collision,
    }


def _status_changed(old: JsonObject, new: dict[str, object]) -> bool:
    """``inconsistentStatus``."""
    return (
        integer(new, "observedGeneration") > integer(old, "observedGeneration")
        or any(
            integer(old, k) != new[k] for k in ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods")
        )
        or as_text(old.get("latestRevision")) != new["latestRevision"]
        or old.get("collisionCount") != new["collisionCount"]
    )


def _pod_ns(pod: PodView) -> str:
    return as_text(as_object(pod.raw.get("metadata")).get("namespace"))


def _condition_patch(pod: PodView, condition: JsonDict) -> runtime.PatchObject:
    """The pod's ``SidecarSetUpgradable`` condition, as a strategic merge patch of its status."""
    return runtime.PatchObject(
        PODS, _pod_ns(pod), pod.name, {"status": {"conditions": [condition]}}, "strategic", "status"
    )


def plan(observed: ObservedSidecarSet, now: datetime) -> Plan:
    raw = observed.raw
    refused = refusal_plan("SidecarSet", SIDECARSETS, raw, now.timestamp(), has_conditions=False)
    if refused is not None:
        return refused
    defaulted = rules.default("SidecarSet", raw)
    try:
        model = SidecarSet.from_wire(dict(defaulted))
    except ValidationError as err:
        raise TerminalError(
            f"SidecarSet {as_text(as_object(raw.get('metadata')).get('name'))} cannot be read: {err}"
        ) from err
    spec = as_object(defaulted.get("spec"))
    view = read_set(defaulted, _hashes(raw, defaulted))
    pods = matched_pods(view, spec, observed.pods)

    pod_revisions = {r for r in (pod_controller_revision(p, view.name) for p in pods) if r}
    decision = history.decide(raw, observed.revision_namespace, observed.revisions, pod_revisions)
    latest = as_text(as_object(decision.latest.get("metadata")).get("name"))
    actions: list[runtime.Action] = []
    ns = observed.revision_namespace
    if decision.to_create is not None:
        actions.append(runtime.CreateObject(CONTROLLER_REVISIONS, ns, thaw_object(decision.to_create)))
    if decision.to_renumber is not None:
        name, number = decision.to_renumber
        actions.append(runtime.PatchObject(CONTROLLER_REVISIONS, ns, name, {"revision": number}))
    actions.extend(runtime.DeleteObject(CONTROLLER_REVISIONS, ns, name) for name in decision.to_delete)

    metadata = as_object(raw.get("metadata"))
    old_status = as_object(raw.get("status"))
    status = status_of(view, pods, integer(metadata, "generation"), latest, decision.collision_count)
    if _status_changed(old_status, status):
        body = thaw_object(raw)
        body["status"] = {**thaw_object(old_status), **status}
        actions.append(runtime.UpdateStatus(SIDECARSETS, "", view.name, body))

    strategy = model.spec.update_strategy
    if strategy.type == "NotUpdate":
        return Plan(tuple(actions), None, "updateStrategy NotUpdate")
    if strategy.paused:
        return Plan(tuple(actions), None, "updateStrategy paused")
    if view.hot:
        flips = [
            pod
            for pod in pods
            if in_hot_upgrading(pod, view)
            and is_state_consistent(pod, view, working_sidecars(pod, view))
            and hot_upgrading_ready(pod, view)
        ]
        for pod in flips:
            patch = flip_patch(pod, view, now)
            actions.append(runtime.PatchObject(PODS, _pod_ns(pod), pod.name, patch, "strategic"))
            actions.append(
                runtime.EmitEvent(
                    ObjectRef.of(
                        {"apiVersion": "v1", "kind": "Pod", "metadata": pod.raw.get("metadata") or {}}
                    ),
                    "ResetContainerSucceed",
                    "reset sidecar container image empty successfully",
                )
            )
        if flips:
            names = ", ".join(p.name for p in flips)
            return Plan(
                tuple(actions), None, f"hot upgrade: idle sidecars of {names} back to the empty image"
            )
    if integer(status, "updatedPods") >= len(pods):  # isSidecarSetUpdateFinish
        return Plan(tuple(actions), None, f"all {len(pods)} matched pods updated")

    upgrade_view = dataclasses.replace(view, latest_revision=latest)
    chosen = next_upgrade_pods(upgrade_view, strategy, pods)
    for pod in chosen.not_upgradable:
        condition = upgradable_condition(pod, view.name, False, now)
        if condition is not None:
            actions.append(_condition_patch(pod, condition))
    if chosen.not_upgradable:
        actions.append(
            runtime.EmitEvent(
                ObjectRef.of(dict(raw)),
                "NotUpgradablePods",
                f"SidecarSet in-place update detected {len(chosen.not_upgradable)} not upgradable pod(s) "
                "in this round, will skip them.",
            )
        )
    upgraded: list[str] = []
    for pod in chosen.upgrade:
        try:
            patch = upgrade_patch(pod, upgrade_view, latest, now)
        except MetadataPatchError as exc:
            # kruise: "SidecarSet patched pod metadata failed", the round ends with the error
            done = ", ".join(upgraded) or "none"
            return Plan(
                tuple(actions),
                None,
                f"upgrading sidecars of {done}; SidecarSet patched pod metadata failed "
                f"for pod {_pod_ns(pod)}/{pod.name}: {exc}",
            )
        upgraded.append(pod.name)
        actions.append(runtime.PatchObject(PODS, _pod_ns(pod), pod.name, patch, "strategic"))
        condition = upgradable_condition(pod, view.name, True, now)
        if condition is not None:
            actions.append(_condition_patch(pod, condition))
    names = ", ".join(p.name for p in chosen.upgrade) or "none"
    return Plan(
        tuple(actions), None, f"upgrading sidecars of {names}; {len(chosen.not_upgradable)} not upgradable"
    )
