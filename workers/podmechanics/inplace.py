"""In-place update: what can change in place, the pod patch that does it, and when it is done.

``in_place_spec`` diffs two revisions' templates (kruise's ``defaultCalculateInPlaceUpdateSpec``):
only container image replacements under ``spec`` and label / annotation changes under
``metadata`` can be applied in place; anything else means recreate (``None``). With
``InPlaceUpdateEnvFromMetadata`` a changed label / annotation that a container env reads
(``envmeta``) goes to that container (``containerRefMetadata``) and the update waits for the
container's restart (``updateEnvFromMetadata`` in the state).
``in_place_patch`` builds the pod patch (images, the workload's revision labels, lifecycle
Updating, the ``apps.kruise.io/inplace-update-state`` annotation, or the ``inplace-update-grace``
annotation when ``gracePeriodSeconds`` defers it); ``update_completed`` reads the kubelet's
container statuses to tell when the new images run. Containers with a launch priority
(``KRUISE_CONTAINER_BARRIER``) are updated in batches, highest priority first (``next_batch``,
``inplacebatches``): ``in_place_refresh`` sends the next batch once the previous one runs and is
Ready, and the update is done only when no batch waits. The revision labels are the workload's
(kruise's revision adapter: CloneSet writes ``controller-revision-hash`` and
``pod-template-hash``, Advanced StatefulSet ``controller-revision-hash`` only), so the caller
passes them. Pure; called by the workload planners' update and refresh steps.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from schemas.kruise.pub import (
    INPLACE_UPDATE_GRACE_ANNOTATION,
    INPLACE_UPDATE_READY_CONDITION,
    INPLACE_UPDATE_STATE_ANNOTATION,
    LIFECYCLE_STATE_LABEL,
    LIFECYCLE_TIMESTAMP_ANNOTATION,
)
from workers.podmechanics.envmeta import env_restarted, plain_hash_consistent, references
from workers.podmechanics.inplacebatches import batch_containers, pre_check_passed
from workers.podmechanics.kube_json import (
    JsonDict,
    JsonObject,
    as_object,
    integer,
    mapping,
    objects,
    parse_time,
    string_map,
    text,
    thaw_object,
)
from workers.podmechanics.pods import PodView, condition, has_readiness_gate, is_at_revision
from workers.podmechanics.templates import canonical_template

LEGACY_STATE_ANNOTATION = "inplace-update-state"
LEGACY_GRACE_ANNOTATION = "inplace-update-grace"
_IMAGE_PATH = re.compile(r"^/spec/containers/([0-9]+)/image$")


@dataclass(frozen=True)
class InPlaceSpec:
    """What an in-place update changes (kruise ``UpdateSpec``)."""

    revision: str
    container_images: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str | None] = field(default_factory=dict)
    """Label changes (None removes)."""
    annotations: Mapping[str, str | None] = field(default_factory=dict)
    grace_seconds: int = 0
    container_ref_metadata: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    """Per container, the labels / annotations (``{"labels": {...}, "annotations": {...}}``) its env
    reads that change: applied with the container, done when it restarted (kruise
    ``ContainerRefMetadata``)."""

    @property
    def update_env_from_metadata(self) -> bool:
        return bool(self.container_ref_metadata)


def _diff(old: object, new: object, path: str) -> Iterator[tuple[str, str, object]]:
    """JSON-patch-like operations (op, path, value) turning ``old`` into ``new``."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in old:
            if key not in new:
                yield ("remove", f"{path}/{key}", None)
        for key, value in new.items():
            if key not in old:
                yield ("add", f"{path}/{key}", value)
            else:
                yield from _diff(old[key], value, f"{path}/{key}")
    elif isinstance(old, list) and isinstance(new, list):
        simple = all(not isinstance(v, Mapping | list) for v in [*old, *new])
        if simple:
            if old != new:
                yield ("replace", path, new)
            return
        for index in range(len(old) - 1, len(new) - 1, -1):
            yield ("remove", f"{path}/{index}", None)
        for index in range(len(old), len(new)):
            yield ("add", f"{path}/{index}", new[index])
        for index in range(min(len(old), len(new))):
            yield from _diff(old[index], new[index], f"{path}/{index}")
    elif old != new or type(old) is not type(new):
        yield ("replace", path, new)


def non_in_place_changes(old_template: JsonObject, new_template: JsonObject) -> tuple[str, ...]:
    """Paths changed in a way in-place update cannot apply (empty: in place is possible).

    The templates are compared canonical (``templates.canonical_template``), as revisions are."""
    blocked = []
    old_template, new_template = canonical_template(old_template), canonical_template(new_template)
    for op, path, value in _diff(old_template, new_template, ""):
        if path.startswith("/metadata/"):
            continue
        if op == "replace" and _IMAGE_PATH.match(path) and isinstance(value, str):
            continue
        blocked.append(f"{op} {path}")
    return tuple(blocked)


def in_place_spec(
    old_template: JsonObject,
    new_template: JsonObject,
    revision: str,
    grace_seconds: int,
    *,
    env_from_metadata: bool = True,
) -> InPlaceSpec | None:
    """The in-place update from ``old_template`` to ``new_template``, or None when it needs recreate."""
    if non_in_place_changes(old_template, new_template):
        return None
    old_template, new_template = canonical_template(old_template), canonical_template(new_template)
    old_names = [text(c, "name") for c in objects(old_template, "spec", "containers")]
    images: dict[str, str] = {}
    for op, path, value in _diff(old_template, new_template, ""):
        match = _IMAGE_PATH.match(path)
        if op == "replace" and match and isinstance(value, str):
            index = int(match.group(1))
            if index >= len(old_names):
                return None
            images[old_names[index]] = value
    labels: dict[str, str | None] = {}
    annotations: dict[str, str | None] = {}
    for key, changes in (("labels", labels), ("annotations", annotations)):
        before = _string_map(old_template, key)
        after = _string_map(new_template, key)
        changes.update({k: None for k in before if k not in after})
        changes.update({k: v for k, v in after.items() if before.get(k) != v})
    refs = (
        _container_ref_metadata(old_template, new_template, labels, annotations) if env_from_metadata else {}
    )
    return InPlaceSpec(revision, images, labels, annotations, grace_seconds, refs)


def _container_ref_metadata(
    old_template: JsonObject,
    new_template: JsonObject,
    labels: dict[str, str | None],
    annotations: dict[str, str | None],
) -> dict[str, dict[str, dict[str, str]]]:
    """Added / changed labels and annotations a container env reads, moved out of ``labels`` /
    ``annotations`` onto those containers (kruise: only when the map exists in both templates,
    since a whole new map is one "add /metadata/labels" operation it does not look into)."""
    refs: dict[str, dict[str, dict[str, str]]] = {}
    for source, changes in (("labels", labels), ("annotations", annotations)):
        if not isinstance(_metadata(old_template).get(source), Mapping):
            continue
        if not isinstance(_metadata(new_template).get(source), Mapping):
            continue
        for key, value in list(changes.items()):
            if value is None:
                continue
            readers = [
                text(c, "name")
                for c in objects(new_template, "spec", "containers")
                if references(c, source, key)
            ]
            for name in readers:
                refs.setdefault(name, {}).setdefault(source, {})[key] = value
            if readers:
                del changes[key]
    return refs


def _metadata(template: JsonObject) -> JsonObject:
    value = template.get("metadata")
    return value if isinstance(value, Mapping) else {}


def _string_map(template: JsonObject, key: str) -> dict[str, str]:
    value = template.get("metadata")
    raw = value.get(key) if isinstance(value, Mapping) else None
    return {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, Mapping) else {}


def state_annotation(pod: PodView) -> JsonObject | None:
    """The parsed in-place update state (new key, then the legacy one)."""
    annotations = pod.annotations
    raw = annotations.get(INPLACE_UPDATE_STATE_ANNOTATION) or annotations.get(LEGACY_STATE_ANNOTATION)
    return _parse(raw)


def grace_annotation(pod: PodView) -> JsonObject | None:
    """The parsed deferred update spec, if the pod is inside its grace period."""
    annotations = pod.annotations
    raw = annotations.get(INPLACE_UPDATE_GRACE_ANNOTATION) or annotations.get(LEGACY_GRACE_ANNOTATION)
    return _parse(raw)


def _parse(raw: str | None) -> JsonObject | None:
    if not raw:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def spec_to_grace(spec: InPlaceSpec) -> str:
    """The ``inplace-update-grace`` annotation (kruise's UpdateSpec JSON; metaDataPatch is base64)."""
    body: JsonDict = {"revision": spec.revision}
    if spec.container_images:
        body["containerImages"] = dict(spec.container_images)
    if spec.container_ref_metadata:
        body["containerRefMetadata"] = {
            name: dict(meta) for name, meta in spec.container_ref_metadata.items()
        }
    if spec.labels or spec.annotations:
        meta = {"metadata": {"labels": dict(spec.labels), "annotations": dict(spec.annotations)}}
        body["metaDataPatch"] = base64.b64encode(orjson.dumps(meta)).decode()
    if spec.update_env_from_metadata:
        body["updateEnvFromMetadata"] = True
    body["graceSeconds"] = spec.grace_seconds
    return orjson.dumps(body).decode()


def spec_from_grace(grace: JsonObject) -> InPlaceSpec:
    images = grace.get("containerImages")
    labels: dict[str, str | None] = {}
    annotations: dict[str, str | None] = {}
    raw_patch = grace.get("metaDataPatch")
    if isinstance(raw_patch, str):
        try:
            meta = orjson.loads(base64.b64decode(raw_patch))
        except (ValueError, orjson.JSONDecodeError):
            meta = {}
        metadata = meta.get("metadata", {}) if isinstance(meta, Mapping) else {}
        for key, target in (("labels", labels), ("annotations", annotations)):
            values = metadata.get(key) if isinstance(metadata, Mapping) else None
            if isinstance(values, Mapping):
                target.update({k: v if isinstance(v, str) else None for k, v in values.items()})
    refs: dict[str, dict[str, dict[str, str]]] = {}
    raw_refs = grace.get("containerRefMetadata")
    for name, meta in raw_refs.items() if isinstance(raw_refs, Mapping) else ():
        for source in ("labels", "annotations"):
            values = meta.get(source) if isinstance(meta, Mapping) else None
            if isinstance(values, Mapping):
                found = {k: v for k, v in values.items() if isinstance(v, str)}
                refs.setdefault(str(name), {})[source] = found
    return InPlaceSpec(
        container_ref_metadata=refs,
        revision=text(grace, "revision"),
        container_images={k: v for k, v in images.items() if isinstance(v, str)}
        if isinstance(images, Mapping)
        else {},
        labels=labels,
        annotations=annotations,
    )


_STATE_KEYS = (
    "revision",
    "updateTimestamp",
    "lastContainerStatuses",
    "updateEnvFromMetadata",
    "updateResources",
    "updateImages",
    "nextContainerImages",
    "nextContainerRefMetadata",
    "nextContainerResources",
    "preCheckBeforeNext",
    "containerBatchesRecord",
)
"""The in-place update state's fields in the order of kruise's ``InPlaceUpdateState`` struct, so
the annotation reads the same (unknown keys are dropped, as kruise's decode drops them)."""
_NEXT_KEYS = ("nextContainerImages", "nextContainerRefMetadata", "nextContainerResources")


@dataclass(frozen=True)
class Batch:
    """One batch of an in-place update (``defaultPatchUpdateSpecToPod``): the container images
    it writes, the labels / annotations its containers' envs read, and the state to record."""

    containers: tuple[JsonDict, ...]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: JsonDict

    def spec_patch(self) -> JsonDict:
        return {"spec": {"containers": list(self.containers)}} if self.containers else {}


def _fresh_state(spec: InPlaceSpec, timestamp: str) -> JsonDict:
    # kruise's fresh InPlaceUpdateState has a nil LastContainerStatuses, which its JSON tag (no
    # omitempty) writes as null; next_batch makes the map only for a container whose image changes
    state: JsonDict = {"revision": spec.revision, "updateTimestamp": timestamp, "lastContainerStatuses": None}
    if spec.update_env_from_metadata:
        state["updateEnvFromMetadata"] = True
    if spec.container_images:
        state["updateImages"] = True
    return state


def next_batch(pod: PodView, spec: InPlaceSpec, timestamp: str, previous: JsonObject | None = None) -> Batch:
    """The containers of ``spec`` to update now, by launch priority, and the resulting state.

    ``previous``: the state the pod records (a deferred update after its grace period, or the
    batch before this one); None starts a new state at ``timestamp``. The containers this batch
    leaves go to ``nextContainerImages`` / ``nextContainerRefMetadata`` behind
    ``preCheckBeforeNext`` (``inplacebatches``); ``lastContainerStatuses`` keeps each container's
    imageID from before its first change (null until a batch changes an image, as kruise's nil
    map; a recorded ``{}``, which older Flotilla wrote, stays ``{}`` as kruise's decode and encode
    of it would); the batch is appended to ``containerBatchesRecord``."""
    base = _fresh_state(spec, timestamp) if previous is None else thaw_object(previous)
    pod_containers = objects(pod.raw, "spec", "containers")
    batch = set(batch_containers(pod_containers, spec.container_images, spec.container_ref_metadata))
    containers: list[JsonDict] = []
    next_images: dict[str, str] = {}
    for container in pod_containers:
        name = text(container, "name")
        if name not in spec.container_images:
            continue
        if name in batch:
            containers.append({"name": name, "image": spec.container_images[name]})
        else:
            next_images[name] = spec.container_images[name]
    raw_last = base.get("lastContainerStatuses")
    last = dict(raw_last) if isinstance(raw_last, Mapping) else None
    changed = {str(c["name"]) for c in containers}
    for status in objects(pod.raw, "status", "containerStatuses"):
        name = text(status, "name")
        if name in changed:
            last = {} if last is None else last
            last.setdefault(name, {"imageID": text(status, "imageID")})
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    next_refs: dict[str, dict[str, dict[str, str]]] = {}
    for name, meta in spec.container_ref_metadata.items():
        if name in batch:
            labels.update(meta.get("labels", {}))
            annotations.update(meta.get("annotations", {}))
        else:
            next_refs[name] = {source: dict(values) for source, values in meta.items()}
    records = [*objects(base, "containerBatchesRecord")]
    records.append({"timestamp": timestamp, "containers": sorted(batch)})
    fields: JsonDict = {
        **base,
        "lastContainerStatuses": dict(sorted(last.items())) if last is not None else None,
        "containerBatchesRecord": records,
    }
    for key in (*_NEXT_KEYS, "preCheckBeforeNext"):
        fields.pop(key, None)
    if next_images:
        fields["nextContainerImages"] = dict(sorted(next_images.items()))
    if next_refs:
        fields["nextContainerRefMetadata"] = dict(sorted(next_refs.items()))
    if next_images or next_refs:
        fields["preCheckBeforeNext"] = {"containersRequiredReady": sorted(batch)}
    state: JsonDict = {key: fields[key] for key in _STATE_KEYS if key in fields}
    return Batch(tuple(containers), labels, annotations, state)


def has_next_batch(state: JsonObject) -> bool:
    """Containers of lower priority still wait for their in-place update."""
    return any(state.get(key) for key in _NEXT_KEYS)


def next_batch_patch(pod: PodView, state: JsonObject, timestamp: str) -> JsonDict | None:
    """The pod patch sending the waiting containers' batch (kruise ``updateNextBatch``), or None
    when no image / metadata change waits.

    The revision, ``updateTimestamp`` and ``updateEnvFromMetadata`` stay as recorded; no label or
    annotation but the containers' env-read ones and the state changes."""
    images = {k: v for k, v in mapping(state, "nextContainerImages").items() if isinstance(v, str)}
    refs: dict[str, dict[str, dict[str, str]]] = {}
    for name, meta in mapping(state, "nextContainerRefMetadata").items():
        for source in ("labels", "annotations"):
            values = string_map(as_object(meta), source)
            if values:
                refs.setdefault(name, {})[source] = dict(values)
    if not images and not refs:
        return None
    spec = InPlaceSpec(revision=text(state, "revision"), container_images=images, container_ref_metadata=refs)
    batch = next_batch(pod, spec, timestamp, state)
    patch = batch.spec_patch()
    patch["metadata"] = {
        "labels": dict(batch.labels),
        "annotations": {
            **batch.annotations,
            INPLACE_UPDATE_STATE_ANNOTATION: orjson.dumps(batch.state).decode(),
        },
    }
    return patch


def in_place_patch(
    pod: PodView,
    spec: InPlaceSpec,
    timestamp: str,
    *,
    revision_labels: Mapping[str, str],
    set_updating: bool = True,
) -> JsonDict:
    """The pod patch starting an in-place update to ``spec.revision`` (``updatePodInPlace``).

    ``revision_labels``: the labels saying the pod is at ``spec.revision`` (the workload's revision
    adapter ``WriteRevisionHash``). ``set_updating``: also move the lifecycle state to Updating
    (kruise's ``SetPodLifecycle(Updating)`` additional function: CloneSet always, Advanced
    StatefulSet when the pod has a lifecycle state)."""
    labels: dict[str, object] = dict(spec.labels)
    labels.update(revision_labels)
    annotations: dict[str, object] = dict(spec.annotations)
    if set_updating:
        labels[LIFECYCLE_STATE_LABEL] = "Updating"
        annotations[LIFECYCLE_TIMESTAMP_ANNOTATION] = timestamp
    annotations[LEGACY_STATE_ANNOTATION] = None
    if spec.grace_seconds <= 0:
        batch = next_batch(pod, spec, timestamp)
        patch, state = batch.spec_patch(), batch.state
        labels.update(batch.labels)
        annotations.update(batch.annotations)
        annotations[INPLACE_UPDATE_GRACE_ANNOTATION] = None
    else:
        patch = {}
        state = {"revision": spec.revision, "updateTimestamp": timestamp, "lastContainerStatuses": None}
        if spec.update_env_from_metadata:
            state["updateEnvFromMetadata"] = True
        if spec.container_images:
            state["updateImages"] = True
        annotations[INPLACE_UPDATE_GRACE_ANNOTATION] = spec_to_grace(spec)
    annotations[INPLACE_UPDATE_STATE_ANNOTATION] = orjson.dumps(state).decode()
    patch["metadata"] = {"labels": labels, "annotations": annotations}
    return patch


def finish_grace_patch(pod: PodView, spec: InPlaceSpec, timestamp: str) -> JsonDict:
    """The deferred part of an in-place update, once the grace period has passed: its first
    batch, on the state recorded when the update started (kruise ``finishGracePeriod``)."""
    batch = next_batch(pod, spec, timestamp, state_annotation(pod))
    patch = batch.spec_patch()
    patch["metadata"] = {
        "labels": {**spec.labels, **batch.labels},
        "annotations": {
            **spec.annotations,
            **batch.annotations,
            INPLACE_UPDATE_GRACE_ANNOTATION: None,
            LEGACY_GRACE_ANNOTATION: None,
            INPLACE_UPDATE_STATE_ANNOTATION: orjson.dumps(batch.state).decode(),
        },
    }
    return patch


def update_completed(pod: PodView) -> bool:
    """The kubelet runs the new images and, after an env-from-metadata change, kruise-daemon
    reports the containers restarted with the new values (``DefaultCheckInPlaceUpdateCompleted``:
    a report of every container running its spec's hash is enough; else the imageIDs tell)."""
    if grace_annotation(pod) is not None:
        return False
    state = state_annotation(pod)
    if state is None:
        return True
    return not has_next_batch(state) and containers_completed(pod, state)


def containers_completed(pod: PodView, state: JsonObject) -> bool:
    """The containers updated so far run their new images / env values
    (``defaultCheckContainersInPlaceUpdateCompleted``: whatever batches still wait)."""
    if state.get("updateEnvFromMetadata") and not env_restarted(pod.raw):
        return False
    if plain_hash_consistent(pod.raw):
        # the node agent reports every container running its spec's name + image: done, even
        # where the imageID cannot tell (a new tag of the same digest)
        return True
    last = state.get("lastContainerStatuses")
    pending = dict(last) if isinstance(last, Mapping) else {}
    images = {}
    for container in objects(pod.raw, "spec", "containers"):
        image = text(container, "image")
        images[text(container, "name")] = image if ":" in image else f"{image}:latest"
    for status in objects(pod.raw, "status", "containerStatuses"):
        name = text(status, "name")
        if name not in pending:
            continue
        old = pending.pop(name)
        old_id = text(old, "imageID") if isinstance(old, Mapping) else ""
        if old_id == text(status, "imageID") and images.get(name) != text(status, "image"):
            return False
    return not pending


def in_place_refresh(
    pod: PodView, now: datetime, timestamp: str
) -> tuple[JsonObject | None, str, float | None]:
    """``inplaceupdate.Refresh``: (patch, subresource, seconds to wait) for one pod.

    Inside a grace period: nothing yet, come back when it ends (a grace for another revision
    than the pod's is dropped); once it has passed, the deferred update (``finish_grace_patch``).
    Otherwise, once the containers updated so far run their new images: while containers of
    lower launch priority wait, their batch once the updated ones are Ready (``preCheckBeforeNext``;
    ``next_batch_patch``); with none left, ``InPlaceUpdateReady`` turns True (pods with that
    readiness gate). ``timestamp`` is ``now`` as written into the pod."""
    grace = grace_annotation(pod)
    if grace is not None:
        spec = spec_from_grace(grace)
        if not is_at_revision(pod, spec.revision):
            drop = {
                "metadata": {
                    "annotations": {INPLACE_UPDATE_GRACE_ANNOTATION: None, LEGACY_GRACE_ANNOTATION: None}
                }
            }
            return drop, "", None
        state = state_annotation(pod) or {}
        started = parse_time(state.get("updateTimestamp"))
        due = (started or now) + timedelta(seconds=integer(grace, "graceSeconds"))
        if due > now:
            remaining = (due - now).total_seconds()
            return None, "", float(int(remaining) + (remaining % 1 > 0))
        return finish_grace_patch(pod, spec, timestamp), "", None
    recorded = state_annotation(pod)
    if recorded is not None:
        if not containers_completed(pod, recorded):
            return None, "", None
        if has_next_batch(recorded):
            if not pre_check_passed(pod.raw, recorded):
                return None, "", None
            patch = next_batch_patch(pod, recorded, timestamp)
            if patch is not None:
                return patch, "", None
    if not has_readiness_gate(pod, INPLACE_UPDATE_READY_CONDITION):
        return None, "", None
    current = condition(pod, INPLACE_UPDATE_READY_CONDITION)
    if (
        current is not None
        and current.get("status") == "True"
        and not text(current, "reason")
        and not text(current, "message")
    ):
        return None, "", None
    # reason / message null: a strategic merge keeps fields the patch leaves out (StartInPlaceUpdate)
    ready = {
        "type": INPLACE_UPDATE_READY_CONDITION,
        "status": "True",
        "reason": None,
        "message": None,
        "lastTransitionTime": timestamp,
    }
    return {"status": {"conditions": [ready]}}, "status", None
