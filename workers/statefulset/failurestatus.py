"""kruise's ``FailedCreatePod`` / ``FailedUpdatePod`` status conditions of an Advanced StatefulSet.

kruise builds every pass's status afresh (``updateStatefulSet``: an empty ``StatefulSetStatus``)
and writes it only when ``inconsistentStatus`` says a count, a revision, the selector, the
observed generation or the volume-claim counts changed. ``processReplica`` adds
``FailedCreatePod`` (status True, no reason, "StatefulPodControl failed to create Pod error:
<error>") when creating a pod or its PVCs fails, and ``FailedUpdatePod`` ("... failed to update
Pod error: ...") when fixing a pod's identity fails; the failing pass still writes its status (if
inconsistent). So a condition appears with the status write of a failing pass and disappears with
the next status write of a pass where nothing failed; passes that write no status leave it.

Flotilla plans before it writes, so the planner attaches the failing pass's status (counts as
the pass found them, plus the condition with an ``{error}`` placeholder) to each pod create /
update it plans, and ``act`` sends it, with the API error filled in, when that action fails.
Unlike kruise it is sent even when the counts did not change (kruise would then drop the
condition with the skipped write): the failure shows in the status, and ``worker.observe``
reads "a create met a pod this set cannot see" (AlreadyExists) from it. So that a failure
that repeats does not write (and so trigger) the set again and again, a condition already True
keeps its lastTransitionTime and ``act`` skips a status the set already has (:func:`news`).
The ``InvalidSpec`` / ``Resolved`` conditions Flotilla sets for a spec kruise's webhook would
have refused (``validation``) are kept: kruise has none of them. Pure; used by ``planner`` and
``act``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from workers.podmechanics.kube_json import JsonDict, format_time
from workers.runtime.actions import PatchObject
from workers.statefulset.validation import FAILED_CREATE_POD, FAILED_UPDATE_POD

CREATE_FAILED = "StatefulPodControl failed to create Pod error: {error}"
UPDATE_FAILED = "StatefulPodControl failed to update Pod error: {error}"
ERROR = "{error}"
ALREADY_EXISTS = "already exists"


def is_failure_condition(condition: Mapping[str, Any]) -> bool:
    """A condition kruise's controller sets for a failed write (its reason is empty)."""
    return condition.get("type") in (FAILED_CREATE_POD, FAILED_UPDATE_POD) and not condition.get("reason")


def without_failures(conditions: Iterable[Mapping[str, Any]]) -> list[JsonDict]:
    """The conditions a pass where nothing failed writes: kruise's fresh status has none."""
    return [dict(c) for c in conditions if not is_failure_condition(c)]


def with_failure(
    conditions: Sequence[Mapping[str, Any]], condition_type: str, message: str, now: datetime
) -> list[JsonDict]:
    """The conditions a failing pass writes: the failure (``NewStatefulsetCondition``; one
    already True keeps its transition time)."""
    since = format_time(now)
    for old in conditions:
        if is_failure_condition(old) and old.get("type") == condition_type and old.get("status") == "True":
            since = str(old.get("lastTransitionTime") or since)
    failure: JsonDict = {
        "type": condition_type,
        "status": "True",
        "lastTransitionTime": since,
        "message": message,
    }
    return [c for c in without_failures(conditions) if c.get("type") != condition_type] + [failure]


def _filled(value: object, error: str) -> object:
    if isinstance(value, str):
        return value.replace(ERROR, error)
    if isinstance(value, Mapping):
        return {k: _filled(v, error) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, error) for v in value]
    return value


def filled(patch: PatchObject, error: str) -> PatchObject:
    """``patch`` with the API error in place of ``{error}``."""
    return dataclasses.replace(patch, patch=_filled(patch.patch, error))  # type: ignore[arg-type]


def news(patch: PatchObject, stored: Mapping[str, Any]) -> bool:
    """Whether the status ``patch`` writes differs from the ``stored`` status."""
    status = patch.patch.get("status")
    return not isinstance(status, Mapping) or any(stored.get(k) != v for k, v in status.items())


def create_met_unseen_pod(status: Mapping[str, Any]) -> bool:
    """The stored status says a pod create failed because the pod already exists: a pod of the
    set's name the set's reads did not return (e.g. an owned pod stripped of its labels)."""
    return any(
        is_failure_condition(c)
        and c.get("type") == FAILED_CREATE_POD
        and c.get("status") == "True"
        and ALREADY_EXISTS in str(c.get("message", ""))
        for c in status.get("conditions") or ()
        if isinstance(c, Mapping)
    )
