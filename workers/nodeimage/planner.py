"""kruise v1.9.1's NodeImage controller (``pkg/controller/nodeimage``) as one pure pass.

The key is a node's name; the pass sees the Node, its NodeImage (same name), the ImagePullJobs
named in the NodeImage's tag owners and whether its pull secrets exist:

1. the Node is gone (or being deleted): its NodeImage is deleted (unless labelled
   ``apps.kruise.io/fake-nodeimage``);
2. no NodeImage yet: created (empty spec) once the Node is Ready and has been for
   ``creation_delay`` seconds (kruise's ``--nodeimage-creation-delay``, 30 s);
3. the spec is tidied (one write, then the next pass): the Node's labels copied; tags without
   ``createdAt`` dropped; owners that are ImagePullJobs gone (or of another UID) removed, a tag
   left with no owner dropped; a tag ``ttlSecondsAfterFinished`` after its pull completed
   dropped; pull secrets (not ``mode: batch``) that no longer exist removed; an image left with
   no tag dropped;
4. the status: a tag the node has not answered for 10 minutes after ``createdAt`` is
   ``Failed`` "node has not responded for a long time"; one still pulling
   ``activeDeadlineSeconds`` + 10 minutes after ``createdAt`` is ``Failed`` "pulling exceeds the
   activeDeadlineSeconds"; each with a ``PullImageFailed`` Event on the owners and the NodeImage;
   counts recomputed (written only when the tag statuses changed);
5. look again when the earliest TTL / response / deadline timer falls due (at least 3 s).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.podmechanics.kube_json import format_time, parse_time

JsonObject = dict[str, Any]

FAKE_LABEL = "apps.kruise.io/fake-nodeimage"
RESPONSE_TIMEOUT = 600.0
MIN_REQUEUE = 3.0
DEFAULT_CREATION_DELAY = 30.0
NOT_RESPONDED = "node has not responded for a long time"
DEADLINE_EXCEEDED = "pulling exceeds the activeDeadlineSeconds"
GROUP = "apps.kruise.io"


@dataclass(frozen=True)
class Event:
    """An Event on ``involved`` (an ObjectReference-shaped dict)."""

    involved: JsonObject
    reason: str
    message: str
    type: str = "Warning"


@dataclass(frozen=True)
class NodeImagePlan:
    """One pass's decision: at most one of create / delete / spec patch / status, and when to look again."""

    create: JsonObject | None = None
    delete: bool = False
    spec_patch: JsonObject | None = None
    status: JsonObject | None = None
    events: tuple[Event, ...] = ()
    requeue_after: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class Observed:
    name: str
    node: JsonObject | None
    node_image: JsonObject | None
    jobs: Mapping[tuple[str, str], JsonObject | None] = field(default_factory=dict)
    """Every ImagePullJob named by a tag owner: the object, or None when it does not exist."""
    secrets: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    """Every pull secret the spec names (not ``batch``): does it exist."""


def _meta(obj: JsonObject) -> JsonObject:
    return obj.get("metadata") or {}


def _ready_for(node: JsonObject, now: float) -> float | None:
    """Seconds the Node has been Ready, or None when it is not Ready."""
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            if condition.get("status") != "True":
                return None
            since = parse_time(condition.get("lastTransitionTime"))
            return now - since.timestamp() if since is not None else float("inf")
    return None


def _ago(value: object, now: float) -> float | None:
    moment = parse_time(value)
    return None if moment is None else now - moment.timestamp()


def owner_is_job(ref: JsonObject) -> bool:
    group = str(ref.get("apiVersion") or "").rpartition("/")[0]
    return group == GROUP and ref.get("kind") == "ImagePullJob"


def _tidy(
    obs: Observed, node_image: JsonObject, now: float
) -> tuple[JsonObject | None, list[str], float | None]:
    """``doUpdateNodeImage``: the merge patch (None: nothing to change), why, the TTL wait."""
    messages: list[str] = []
    wait: float | None = None
    patch_meta: JsonObject = {}
    node_labels = _meta(obs.node).get("labels") or {} if obs.node is not None else None
    own_labels = _meta(node_image).get("labels") or {}
    if node_labels is not None and node_labels != own_labels:
        messages.append("node labels changed")
        patch_meta["labels"] = {**{k: None for k in own_labels if k not in node_labels}, **node_labels}
    images = (node_image.get("spec") or {}).get("images") or {}
    statuses = (node_image.get("status") or {}).get("imageStatuses") or {}
    changed: dict[str, JsonObject | None] = {}
    for name, image_spec in images.items():
        new_tags = []
        modified = False
        for tag_spec in image_spec.get("tags") or ():
            full = f"{name}:{tag_spec.get('tag')}"
            if not tag_spec.get("createdAt"):
                modified = True
                messages.append(f"image {full} has no createAt field")
                continue
            owners = list(tag_spec.get("ownerReferences") or ())
            active = []
            for ref in owners:
                if not owner_is_job(ref):
                    active.append(ref)
                    continue
                job = obs.jobs.get((str(ref.get("namespace") or ""), str(ref.get("name") or "")))
                if job is None or _meta(job).get("uid") != ref.get("uid"):
                    continue
                active.append(ref)
            tag_spec = dict(tag_spec)
            if len(active) != len(owners):
                modified = True
                if not active:
                    messages.append(f"image {full} owners is cleared")
                    continue
                messages.append(f"image {full} owners changed")
                tag_spec["ownerReferences"] = active
            ttl = (tag_spec.get("pullPolicy") or {}).get("ttlSecondsAfterFinished")
            if ttl is not None:
                done = next(
                    (
                        s.get("completionTime")
                        for s in (statuses.get(name) or {}).get("tags") or ()
                        if s.get("tag") == tag_spec.get("tag")
                        and s.get("version", 0) == tag_spec.get("version", 0)
                    ),
                    None,
                )
                since = _ago(done, now)
                if since is not None:
                    left = float(ttl) - since
                    if left <= 0:
                        modified = True
                        messages.append(f"image {full} has exceeded TTL ({ttl})s since {done} completed")
                        continue
                    wait = left if wait is None else min(wait, left)
            new_tags.append(tag_spec)
        secrets = list(image_spec.get("pullSecrets") or ())
        kept_secrets = [
            ref
            for ref in secrets
            if ref.get("mode") == "batch"
            or obs.secrets.get((str(ref.get("namespace") or ""), str(ref.get("name") or "")), True)
        ]
        if len(kept_secrets) != len(secrets):
            modified = True
        if not new_tags:
            messages.append(f"no longer has {name} image spec")
            changed[name] = None
        elif modified:
            new_tags.sort(key=lambda t: str(t.get("tag")))
            changed[name] = {**image_spec, "tags": new_tags, "pullSecrets": kept_secrets or None}
    if not patch_meta and not changed:
        return None, messages, wait
    patch: JsonObject = {
        "metadata": {"resourceVersion": _meta(node_image).get("resourceVersion"), **patch_meta}
    }
    if changed:
        patch["spec"] = {"images": changed}
    return patch, messages, wait


def _tag_status(image_status: JsonObject, tag: str) -> JsonObject | None:
    return next((t for t in image_status.get("tags") or () if t.get("tag") == tag), None)


def _status(node_image: JsonObject, now: float) -> tuple[JsonObject | None, list[Event], float | None]:
    """``updateNodeImageStatus``: the new status (None: unchanged), the Events, the next timer."""
    name = str(_meta(node_image).get("name") or "")
    images = (node_image.get("spec") or {}).get("images") or {}
    old = node_image.get("status") or {}
    statuses = copy.deepcopy(old.get("imageStatuses") or {})
    wanted: set[str] = set()
    events: list[Event] = []
    wait: float | None = None
    stamp = format_time(_utc(now))

    def later(seconds: float) -> None:
        nonlocal wait
        wait = seconds if wait is None else min(wait, seconds)

    for image, image_spec in images.items():
        image_status = statuses.get(image) or {"tags": []}
        image_status.setdefault("tags", [])
        for tag_spec in image_spec.get("tags") or ():
            tag = str(tag_spec.get("tag"))
            full = f"{image}:{tag}"
            wanted.add(full)
            since = _ago(tag_spec.get("createdAt"), now)
            if since is None:
                continue
            version = tag_spec.get("version", 0)
            status = _tag_status(image_status, tag)
            failed = False
            if status is None or status.get("version", 0) != version:
                if RESPONSE_TIMEOUT - since > 0:
                    later(RESPONSE_TIMEOUT - since)
                    continue
                fresh = {
                    "tag": tag,
                    "phase": "Failed",
                    "completionTime": stamp,
                    "version": version,
                    "message": NOT_RESPONDED,
                }
                if status is None:
                    image_status["tags"].append(fresh)
                    status = fresh
                else:
                    status.update(fresh)
                failed = True
            deadline = (tag_spec.get("pullPolicy") or {}).get("activeDeadlineSeconds")
            if not status.get("completionTime") and deadline is not None:
                left = float(deadline) + RESPONSE_TIMEOUT - since
                if left > 0:
                    later(left)
                    continue
                status.update(
                    phase="Failed", completionTime=stamp, version=version, message=DEADLINE_EXCEEDED
                )
                failed = True
            if failed:
                text = f"Failed to pull image {full} on node {name} for {status.get('message')}"
                for owner in tag_spec.get("ownerReferences") or ():
                    events.append(Event(dict(owner), "PullImageFailed", text))
                involved = {
                    "apiVersion": f"{GROUP}/v1beta1",
                    "kind": "NodeImage",
                    "name": name,
                    "uid": _meta(node_image).get("uid"),
                }
                events.append(Event(involved, "PullImageFailed", text))
        if image_status["tags"]:
            image_status["tags"].sort(key=lambda t: str(t.get("tag")))
            statuses[image] = image_status
    if statuses == (old.get("imageStatuses") or {}):
        return None, events, wait
    counts = {"Succeeded": 0, "Pulling": 0, "Failed": 0}
    kept: dict[str, JsonObject] = {}
    for image, image_status in statuses.items():
        if image not in images:
            continue
        tags = [t for t in image_status.get("tags") or () if f"{image}:{t.get('tag')}" in wanted]
        for tag in tags:
            if tag.get("phase") in counts:
                counts[str(tag.get("phase"))] += 1
        if tags:
            kept[image] = {**image_status, "tags": tags}
    new = {
        **old,
        "imageStatuses": kept,
        "desired": len(wanted),
        "pulling": counts["Pulling"],
        "succeeded": counts["Succeeded"],
        "failed": counts["Failed"],
    }
    return new, events, wait


def _utc(now: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(now, dt.UTC)


def _floor(wait: float | None) -> float | None:
    return None if wait is None else max(wait, MIN_REQUEUE)


def plan(obs: Observed, now: float, creation_delay: float = DEFAULT_CREATION_DELAY) -> NodeImagePlan:
    """One pass of kruise's NodeImage ``Reconcile`` for the node ``obs.name``."""
    node, node_image = obs.node, obs.node_image
    if node is None or _meta(node).get("deletionTimestamp"):
        if node_image is None or _meta(node_image).get("deletionTimestamp"):
            return NodeImagePlan(reason="node and NodeImage gone")
        if FAKE_LABEL not in (_meta(node_image).get("labels") or {}):
            return NodeImagePlan(delete=True, reason="node is gone: NodeImage deleted")
    if node_image is None:
        assert node is not None
        ready = _ready_for(node, now)
        if ready is None:
            return NodeImagePlan(reason="node not ready: no NodeImage yet")
        if ready < creation_delay:
            return NodeImagePlan(requeue_after=creation_delay - ready, reason="waiting after node ready")
        body = {
            "apiVersion": f"{GROUP}/v1beta1",
            "kind": "NodeImage",
            "metadata": {"name": obs.name},
            "spec": {},
        }
        return NodeImagePlan(create=body, reason="NodeImage created")
    if _meta(node_image).get("deletionTimestamp"):
        return NodeImagePlan(reason="NodeImage being deleted")
    patch, messages, ttl_wait = _tidy(obs, node_image, now)
    if patch is not None:
        return NodeImagePlan(spec_patch=patch, reason="; ".join(messages) or "NodeImage updated")
    status, events, status_wait = _status(node_image, now)
    waits = [w for w in (ttl_wait, status_wait) if w is not None]
    return NodeImagePlan(
        status=status,
        events=tuple(events),
        requeue_after=_floor(min(waits)) if waits else None,
        reason="status updated" if status is not None else "in sync",
    )
