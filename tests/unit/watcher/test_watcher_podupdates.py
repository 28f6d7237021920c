"""The CloneSet pod-update filter (``watcher.podupdates``, ``--cloneset-event-filter=on``).

Expected values by hand from kruise v1.9.1: ``IgnorePodUpdateEvent`` (``cloneset/core/
cloneset_core.go``) and its table ``TestIgnorePodUpdateEvent``, the pod handler's ``Update``
(``cloneset_event_handler.go``: labels, controller reference, deletion) and its
``TestEnqueueRequestForPodUpdate`` cases with the gate on; then the fields Flotilla keeps on
top (the module docstring). Each row is an old and a new pod: "kept" means the CloneSet gets a
trigger, as kruise's handler would enqueue it (or, for Flotilla's rows, because Flotilla's
worker waits on that change).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from watcher.config import CATALOGUE, POD, WatcherConfig, WatchTarget
from watcher.mapping import Router
from watcher.pipeline import Pipeline
from watcher.podupdates import PodMemory, in_place_refresh_due, update_matters
from workers.podmechanics.pods import read_pod

Pod = dict[str, Any]
STATE = "apps.kruise.io/inplace-update-state"
LIFECYCLE = "lifecycle.apps.kruise.io/state"


def pod(
    *,
    state: str = "Normal",
    ready: bool = True,
    gate: bool = True,
    in_place_ready: str | None = "True",
    image: str = "nginx:2",
    image_id: str = "sha-2",
    running: str = "nginx:2",
    update_state: dict[str, Any] | None = None,
) -> Pod:
    """A CloneSet pod with the ``InPlaceUpdateReady`` gate (``gate``) whose spec says ``image`` and
    whose container runs ``running`` (``image_id``)."""
    conditions: list[dict[str, Any]] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if in_place_ready is not None:
        conditions.append({"type": "InPlaceUpdateReady", "status": in_place_ready})
    annotations = {STATE: orjson.dumps(update_state).decode()} if update_state is not None else {}
    return {
        "metadata": {
            "name": "web-abc",
            "namespace": "ns",
            "uid": "uid-1",
            "resourceVersion": "10",
            "generation": 1,
            "labels": {"app": "web", LIFECYCLE: state, "controller-revision-hash": "web-2"},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps.kruise.io/v1alpha1",
                    "kind": "CloneSet",
                    "name": "web",
                    "uid": "cs-1",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "app", "image": image}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}] if gate else [],
        },
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "containerStatuses": [
                {"name": "app", "image": running, "imageID": image_id, "ready": ready, "restartCount": 0}
            ],
        },
    }


def changed(base: Pod, edit: Callable[[Pod], None]) -> Pod:
    new = copy.deepcopy(base)
    edit(new)
    new["metadata"]["resourceVersion"] = str(int(base["metadata"]["resourceVersion"]) + 1)
    return new


def restarts(p: Pod) -> None:
    p["status"]["containerStatuses"][0]["restartCount"] = 1


def pod_ip(p: Pod) -> None:
    p["status"]["podIP"] = "10.0.0.7"


def kept(old: Pod, new: Pod) -> bool:
    memory = PodMemory()
    assert memory.skip(old, updated=False) is False  # an added pod is never skipped
    return not memory.skip(new, updated=True)


# The in-place update of kruise's protocol, image nginx:1 -> nginx:2: the state the worker wrote.
UPDATING = {
    "revision": "web-2",
    "updateTimestamp": "2026-11-30T19:00:00Z",
    "lastContainerStatuses": {"app": {"imageID": "sha-1"}},
}
SWAPPED = pod(state="Updating", ready=False, in_place_ready="False", update_state=UPDATING)
NOT_SWAPPED = pod(
    state="Updating",
    ready=False,
    in_place_ready="False",
    image_id="sha-1",
    running="nginx:1",
    update_state=UPDATING,
)
DONE = pod(update_state=UPDATING)


def _set(path: tuple[str, ...], value: object) -> Callable[[Pod], None]:
    def edit(p: Pod) -> None:
        target: Any = p
        for step in path[:-1]:
            target = target.setdefault(step, {})
        target[path[-1]] = value

    return edit


ROWS: list[tuple[str, Pod, Callable[[Pod], None], bool]] = [
    # kruise's handler: what it always enqueues
    ("labels changed", DONE, _set(("metadata", "labels", "extra"), "x"), True),
    ("controller reference changed", DONE, lambda p: p["metadata"].pop("ownerReferences"), True),
    ("being deleted", DONE, _set(("metadata", "deletionTimestamp"), "2026-11-30T19:01:00Z"), True),
    # IgnorePodUpdateEvent
    ("generation changed", DONE, _set(("metadata", "generation"), 2), True),
    ("Ready turned False", DONE, lambda p: p["status"]["conditions"][0].update(status="False"), True),
    ("phase Succeeded (not active)", DONE, _set(("status", "phase"), "Succeeded"), True),
    ("phase Pending -> Running (active both)", pod(), _set(("status", "phase"), "Pending"), False),
    ("restart count only, update done", DONE, restarts, False),
    ("pod IP only, no in-place state", pod(), pod_ip, False),
    # TestIgnorePodUpdateEvent: Updating, state "{}", InPlaceUpdateReady True -> ignored
    ("Updating, state {}, condition True", pod(state="Updating", update_state={}), restarts, False),
    # ... and with the condition False -> not ignored (the refresh is due)
    (
        "Updating, state {}, condition False",
        pod(state="Updating", in_place_ready="False", update_state={}),
        restarts,
        True,
    ),
    # kruise's in-place branch during a roll
    ("image swapped, condition False: refresh due", SWAPPED, restarts, True),
    ("image not swapped yet: nothing to do", NOT_SWAPPED, pod_ip, False),
    ("no gate, lifecycle Normal, condition absent", pod(gate=False, in_place_ready=None), restarts, False),
    (
        "no gate, lifecycle Updating, swapped, condition absent",
        pod(gate=False, state="Updating", in_place_ready=None, update_state=UPDATING),
        restarts,
        True,
    ),
    (
        "gate, lifecycle Normal, swapped, condition absent",
        pod(in_place_ready=None, update_state=UPDATING),
        restarts,
        True,
    ),
    # Flotilla keeps more than kruise (its worker waits on these)
    ("any finalizer added", DONE, _set(("metadata", "finalizers"), ["example.com/hold"]), True),
    ("scheduled (spec.nodeName)", pod(state="PreparingNormal"), _set(("spec", "nodeName"), "node-2"), True),
    (
        "InPlaceUpdateReady turned True",
        NOT_SWAPPED,
        lambda p: p["status"]["conditions"][1].update(status="True"),
        True,
    ),
    (
        "KruisePodReady added",
        DONE,
        lambda p: p["status"]["conditions"].append({"type": "KruisePodReady", "status": "True"}),
        True,
    ),
    ("in-place state annotation changed", DONE, _set(("metadata", "annotations", STATE), "{}"), True),
    (
        "grace annotation added",
        DONE,
        _set(("metadata", "annotations", "apps.kruise.io/inplace-update-grace"), '{"revision":"web-3"}'),
        True,
    ),
    (
        "a non-controller ownerReference added",
        DONE,
        lambda p: p["metadata"]["ownerReferences"].append(
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u"}
        ),
        True,
    ),
    ("other annotation only", DONE, _set(("metadata", "annotations", "note"), "x"), False),
]


@pytest.mark.parametrize(("name", "old", "edit", "expected"), ROWS, ids=[row[0] for row in ROWS])
def test_an_update_is_kept_exactly_when_it_may_change_the_plan(
    name: str, old: Pod, edit: Callable[[Pod], None], expected: bool
) -> None:
    assert kept(old, changed(old, edit)) is expected, name


def test_the_rows_with_the_pod_unchanged_but_for_resource_version_follow_the_in_place_branch() -> None:
    # the version before is identical: only the in-place branch on the new pod decides
    assert kept(SWAPPED, changed(SWAPPED, lambda p: None)) is True
    assert kept(DONE, changed(DONE, lambda p: None)) is False


def test_an_update_of_a_pod_never_seen_is_kept() -> None:
    assert update_matters(None, read_pod(DONE)) is True
    assert PodMemory().skip(changed(DONE, restarts), updated=True) is False


def test_a_state_annotation_that_does_not_parse_is_no_refresh_due() -> None:
    # kruise: containersUpdateCompleted returns the json error -> the branch does not keep
    broken = copy.deepcopy(SWAPPED)
    broken["metadata"]["annotations"][STATE] = "{not json"
    assert in_place_refresh_due(read_pod(broken)) is False


def test_memory_forgets_deleted_pods_and_is_replaced_by_a_namespace_list() -> None:
    memory = PodMemory()
    other = changed(DONE, _set(("metadata", "namespace"), "other"))
    other["metadata"]["uid"] = "uid-2"
    memory.skip(DONE, updated=False)
    memory.skip(other, updated=False)
    memory.forget(DONE)
    assert len(memory) == 1
    memory.replace("ns", [DONE])
    assert len(memory) == 2
    memory.replace("other", [])
    assert len(memory) == 1
    memory.replace(None, [])
    assert len(memory) == 0


PODS = WatchTarget(POD)


def pending_keys(pipeline: Pipeline) -> list[str]:
    return [str(trigger.envelope.key) for _, trigger in pipeline.ledger.take(100)]


def test_the_pipeline_publishes_nothing_for_a_quiet_update_with_the_filter_on() -> None:
    pipeline = Pipeline(Router(WatcherConfig(types=CATALOGUE[:1], cloneset_event_filter=True)))
    pipeline.event(PODS, "ADDED", DONE)
    assert pending_keys(pipeline) == ["cloneset/ns/web"]
    quiet = changed(DONE, restarts)
    pipeline.event(PODS, "MODIFIED", quiet)
    assert pipeline.ledger.pending_count == 0
    # the checkpoint may move past it: the ledger recorded the event with no trigger
    loud = changed(quiet, _set(("metadata", "labels", "extra"), "x"))
    pipeline.event(PODS, "MODIFIED", loud)
    assert pending_keys(pipeline) == ["cloneset/ns/web"]


def test_the_pipeline_publishes_every_update_with_the_filter_off() -> None:
    pipeline = Pipeline(Router(WatcherConfig(types=CATALOGUE[:1])))
    pipeline.event(PODS, "ADDED", DONE)
    pending_keys(pipeline)
    pipeline.event(PODS, "MODIFIED", changed(DONE, restarts))
    assert pending_keys(pipeline) == ["cloneset/ns/web"]
    assert len(pipeline.pods) == 0  # nothing remembered when no type filters


def test_the_filter_skips_only_the_cloneset_keys_of_an_event() -> None:
    # the same pod event also feeds the PodUnavailableBudget naming it: that key stays
    pub = next(spec for spec in CATALOGUE if spec.name == "podunavailablebudget")
    config = WatcherConfig(types=(CATALOGUE[0], pub), cloneset_event_filter=True)
    pipeline = Pipeline(Router(config))
    annotated = changed(DONE, _set(("metadata", "annotations", "kruise.io/related-pub"), "budget"))
    pipeline.event(PODS, "ADDED", annotated)
    pending_keys(pipeline)
    pipeline.event(PODS, "MODIFIED", changed(annotated, restarts))
    assert pending_keys(pipeline) == ["podunavailablebudget/ns/budget"]


def test_a_resync_list_is_never_filtered_and_leaves_the_memory_alone() -> None:
    pipeline = Pipeline(Router(WatcherConfig(types=CATALOGUE[:1], cloneset_event_filter=True)))
    pipeline.relist(PODS, PODS, [DONE], "10")  # the informer's own list: remembered
    assert len(pipeline.pods) == 1
    assert pending_keys(pipeline) == ["cloneset/ns/web"]
    pipeline.relist(("resync", "cloneset", None), PODS, [changed(DONE, restarts)], "", round_id="r1")
    assert pending_keys(pipeline) == ["cloneset/ns/web"]
    pipeline.event(PODS, "MODIFIED", changed(DONE, restarts))  # compared with the watch's version
    assert pipeline.ledger.pending_count == 0
    pipeline.event(PODS, "DELETED", DONE)
    assert pending_keys(pipeline) == ["cloneset/ns/web"]
    assert len(pipeline.pods) == 0
