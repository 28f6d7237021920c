"""Pod updates that cannot change a CloneSet's plan: kruise's ``CloneSetEventHandlerOptimization``.

kruise v1.9.1's CloneSet pod event handler (``cloneset_event_handler.go``, ``Update``) enqueues
the owner of every updated pod; with the alpha gate ``CloneSetEventHandlerOptimization`` (off
by default) it skips an update when neither the labels nor the controller reference changed and
``shouldIgnoreUpdate`` -> ``IgnorePodUpdateEvent`` (``cloneset/core/cloneset_core.go``) says so.
That rule keeps an update when, between the old and the new pod:

- ``metadata.generation`` changed;
- a finalizer of the CloneSet's lifecycle hooks was added or removed;
- Ready (the ``Ready`` condition True) or active (not Succeeded / Failed, not being deleted)
  changed;
- or the new pod has the ``InPlaceUpdateReady`` readiness gate or a lifecycle state other than
  ``Normal``, its in-place update state says the updated containers run their new images
  (``containersUpdateCompleted``), and ``InPlaceUpdateReady`` is not True yet (the refresh that
  sets it is due).

A pod being deleted is always enqueued (the handler's ``Delete``), as are creations and
deletions. Flotilla applies the rule in the watcher, before it publishes (:mod:`watcher.pipeline`),
and keeps more than kruise does wherever its own worker waits on a pod change (:func:`compared`):
every finalizer, not only the hooks' (the watcher does not read the CloneSet's hooks); every
ownerReference, not only the controller's; ``spec.nodeName`` (a new pod moves to ``Normal``
once scheduled, and spread constraints rank by node); the status of ``InPlaceUpdateReady`` and
``KruisePodReady`` (the worker's refresh writes them, and a pod it refreshed waits for the next
pass before it is updated); the in-place state and grace annotations (a deferred update resumes
from them). kruise's ``InPlaceWorkloadVerticalScaling`` branch is not modelled: Flotilla's
CloneSet worker does not resize in place.

The watcher sees only the new object of each event, so :class:`PodMemory` keeps, per pod uid,
a fingerprint of what :func:`compared` reads from the last version seen (an int per pod, about
100 bytes with its dict entry). With no fingerprint (a pod first seen after the watcher
started from a checkpoint) the update is kept. Pure but for the memory; used by
:mod:`watcher.pipeline` when ``--cloneset-event-filter=on``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.kruise.pub import (
    INPLACE_UPDATE_GRACE_ANNOTATION,
    INPLACE_UPDATE_READY_CONDITION,
    INPLACE_UPDATE_STATE_ANNOTATION,
    KRUISE_POD_READY_CONDITION,
)
from workers.podmechanics.inplace import (
    LEGACY_GRACE_ANNOTATION,
    LEGACY_STATE_ANNOTATION,
    containers_completed,
    state_annotation,
)
from workers.podmechanics.kube_json import integer, objects, text, uid_of
from workers.podmechanics.pods import PodView, has_readiness_gate, is_active, read_pod

#: A decoded Kubernetes object (``orjson.loads`` output).
RawObject = Mapping[str, object]

_ANNOTATIONS = (
    INPLACE_UPDATE_STATE_ANNOTATION,
    LEGACY_STATE_ANNOTATION,
    INPLACE_UPDATE_GRACE_ANNOTATION,
    LEGACY_GRACE_ANNOTATION,
)


def _condition_status(pod: PodView, condition_type: str) -> str:
    """The condition's status ('' when the pod has no such condition)."""
    found = pod.conditions.get(condition_type)
    return text(found, "status") if found is not None else ""


def _owners(pod: PodView) -> tuple[tuple[str, ...], ...]:
    return tuple(
        (text(r, "apiVersion"), text(r, "kind"), text(r, "name"), text(r, "uid"), str(r.get("controller")))
        for r in objects(pod.raw, "metadata", "ownerReferences")
    )


def compared(pod: PodView) -> tuple[object, ...]:
    """What an update must leave unchanged to be skipped: kruise's fields (generation, labels,
    controller reference, hook finalizers, Ready, active) widened to Flotilla's (see the module
    docstring)."""
    return (
        integer(pod.raw, "metadata", "generation"),
        tuple(sorted(pod.labels.items())),
        _owners(pod),
        tuple(sorted(pod.finalizers)),
        pod.deleting,
        pod.ready,
        is_active(pod),
        pod.node_name,
        _condition_status(pod, INPLACE_UPDATE_READY_CONDITION),
        _condition_status(pod, KRUISE_POD_READY_CONDITION),
        tuple(pod.annotations.get(name) for name in _ANNOTATIONS),
    )


def fingerprint(pod: PodView) -> int:
    """A hash of :func:`compared` (64 bits: two versions that differ collide with odds ~2^-64)."""
    return hash(compared(pod))


def in_place_refresh_due(pod: PodView) -> bool:
    """kruise's in-place branch of ``IgnorePodUpdateEvent``, on the new pod alone: it has the
    ``InPlaceUpdateReady`` gate or (with labels) a lifecycle state other than ``Normal``, its
    in-place state reads and its updated containers run their new images, and
    ``InPlaceUpdateReady`` is absent or not True."""
    gated = has_readiness_gate(pod, INPLACE_UPDATE_READY_CONDITION)
    updating = bool(pod.labels) and pod.lifecycle_state != "Normal"
    if not (gated or updating):
        return False
    state = state_annotation(pod)
    if state is None or not containers_completed(pod, state):
        return False
    return _condition_status(pod, INPLACE_UPDATE_READY_CONDITION) != "True"


def update_matters(previous: int | None, pod: PodView, current: int | None = None) -> bool:
    """Whether an update of ``pod`` (the new version, whose fingerprint is ``current`` when known;
    ``previous``: the fingerprint of the one before, None when unknown) may change its CloneSet's
    plan: True keeps the trigger."""
    if previous is None or pod.deleting:
        return True
    if (fingerprint(pod) if current is None else current) != previous:
        return True
    return in_place_refresh_due(pod)


def _namespace(obj: RawObject) -> str:
    return text(obj, "metadata", "namespace")


class PodMemory:
    """Per pod uid, its namespace and the fingerprint of the last version seen."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, int]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def skip(self, obj: RawObject, updated: bool) -> bool:
        """Remember ``obj`` (an added or, ``updated``, a modified pod); True when it is an update
        that cannot change its CloneSet's plan (:func:`update_matters`)."""
        uid = uid_of(obj)
        if not uid:
            return False
        pod = read_pod(obj)
        known, current = self._seen.get(uid), fingerprint(pod)
        self._seen[uid] = (_namespace(obj), current)
        return updated and not update_matters(known[1] if known is not None else None, pod, current)

    def forget(self, obj: RawObject) -> None:
        self._seen.pop(uid_of(obj), None)

    def replace(self, namespace: str | None, objects: Iterable[RawObject]) -> None:
        """A fresh list of the pods (of ``namespace``; None: of every namespace), from which the
        watch goes on: what was remembered there is replaced."""
        if namespace is None:
            self._seen.clear()
        else:
            self._seen = {uid: seen for uid, seen in self._seen.items() if seen[0] != namespace}
        for obj in objects:
            uid = uid_of(obj)
            if uid:
                self._seen[uid] = (_namespace(obj), fingerprint(read_pod(obj)))
