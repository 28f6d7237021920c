"""What an Advanced StatefulSet reconcile reads besides the set, and when a read can be skipped.

:class:`Reads` is the first round of LISTs ``worker.observe`` sends for a set: its pods by
selector, its PVCs (when it has volumeClaimTemplates), its ControllerRevisions, and the stray
LISTs of the revisions its status names (none when the status says a pod create met a pod the
set could not see: the namespace-wide LIST replaces them). Everything it depends on (the
selector, the claim templates, the status's revisions and failure condition) changes rarely,
so the shell remembers the last one per set (:data:`LAST_READS`, per process, bounded) and
sends it together with the set's GET; when the GET shows another one, the guessed LISTs are
dropped and the right ones read (the round the guess would have saved). The guess never
decides what is planned from: the LISTs used are always the ones the set read now asks for.

The stray LISTs look for pods the set owns that its selector no longer matches. When they go
out is the rule the CloneSet shares (``workers.runtime.strayreads``: ``strays_due`` with these
:class:`Reads` as what the set asks for, ``trigger_names_unseen_pod`` after the selector LIST when
the count does not explain the pod); a set whose selector LIST is short of ``status.replicas``
reads the whole namespace anyway (``worker.observe``). Otherwise they are not sent: 4 of the 8
requests of a reconcile with a two-label selector.

:func:`trigger_explains_missing_pod`: the selector LIST came back one owned pod short of
``status.replicas`` and the trigger being answered is an event of a pod the reads did not
return: that pod is the one missing (deleted; kwok removes a deleted pod 35-80 ms after the
DELETE), so the namespace-wide LIST, which looks for an owned pod stripped of its labels, is
not sent (one round less between a pod's deletion and its re-creation, what kruise's
"PVC should be recreated when pod is pending" races against). Were that pod stripped or
relabelled instead, the ordinal's create meets it (AlreadyExists), the pass writes
``FailedCreatePod`` and the re-plan reads the namespace (``failurestatus.create_met_unseen_pod``)
and releases it. Pure, except for the cache; used by ``worker.observe``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.bus.envelope import Envelope
from schemas.kruise.pub import CONTROLLER_REVISION_HASH_LABEL
from schemas.kruise.statefulset import POD_NAME_LABEL, StatefulSet
from workers.podmechanics.kube_json import JsonObject, uid_of
from workers.podmechanics.ownership import is_owned_by, selector_string
from workers.podmechanics.strays import stray_selectors
from workers.runtime.event_correlation import LruCache
from workers.runtime.strayreads import LastRead
from workers.statefulset.failurestatus import create_met_unseen_pod


@dataclass(frozen=True)
class Reads:
    """The first round of LISTs for one set (see the module docstring)."""

    selector: str
    claims: bool
    strays: tuple[str, ...]
    namespace_wide: bool
    """The status says a pod create met a pod the set cannot see: read every pod of the namespace."""


def statefulset_strays(sts: StatefulSet, revisions: Iterable[str]) -> tuple[str, ...]:
    """The LISTs of the set's pods its selector no longer matches (the planner releases them):
    pods with the pod-name label and one of ``revisions`` (or none) that fail a selector
    requirement."""
    return stray_selectors(sts.spec.selector, POD_NAME_LABEL, CONTROLLER_REVISION_HASH_LABEL, set(revisions))


def named_revisions(status: Mapping[str, Any]) -> set[str]:
    """The revisions the set's status names (``currentRevision``, ``updateRevision``)."""
    return {str(status[f]) for f in ("currentRevision", "updateRevision") if status.get(f)}


def reads_of(sts: StatefulSet, status: Mapping[str, Any]) -> Reads:
    """The first round of LISTs the set read (``sts`` and its raw ``status``) asks for."""
    namespace_wide = create_met_unseen_pod(status)
    return Reads(
        selector=selector_string(sts.spec.selector),
        claims=bool(sts.spec.volume_claim_templates),
        strays=() if namespace_wide else statefulset_strays(sts, named_revisions(status)),
        namespace_wide=namespace_wide,
    )


#: The last read per ``(namespace, name)`` in this process (client-go's LRU size).
LAST_READS: LruCache[tuple[str, str], LastRead[Reads]] = LruCache()


def trigger_explains_missing_pod(
    trigger: Envelope | None, last_counted: int, found: Iterable[JsonObject], owner_uid: str
) -> bool:
    """The pods read (``found``) are exactly one owned pod short of ``last_counted``
    (``status.replicas``) and ``trigger`` is an event of a pod not among them."""
    if trigger is None or trigger.object_kind != "Pod" or not trigger.object_uid:
        return False
    pods = list(found)
    if any(uid_of(p) == trigger.object_uid for p in pods):
        return False
    return sum(1 for p in pods if is_owned_by(p, owner_uid)) == last_counted - 1
