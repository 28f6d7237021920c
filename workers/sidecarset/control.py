"""What one SidecarSet asks of one pod: kruise's ``sidecarcontrol`` predicates and its pod writes.

``SetView`` is the SidecarSet as the planner reads it (its two hashes, its sidecar container
names, the cold sidecars' images). The predicates follow kruise v1.9.1
``pkg/control/sidecarcontrol`` (``IsPodInjectedSidecarSet``, ``IsPodConsistentWithSidecarSet``,
``IsPodSidecarUpdated``, ``IsSidecarSetUpgradable``, ``IsPodStateConsistent``, ``IsPodReady``);
``upgrade_patch`` is ``updatePodSidecarContainer`` for cold sidecars: the new images, the pod's
``kruise.io/sidecarset-hash`` entry rewritten (``UpdatePodSidecarSetHash``) and
``kruise.io/sidecarset-inplace-update-state`` (``UpdatePodAnnotationsInUpgrade``), in Go's JSON
and field order so a pod written by Flotilla reads the same to kruise, and the reverse.
``upgradable_condition`` is the pod's ``SidecarSetUpgradable`` condition
(``updatePodSidecarSetUpgradableCondition``). Pure; called by ``strategy`` and ``planner``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.kruise.rules import meta
from schemas.kruise.sidecarset import (
    SIDECARSET_HASH_ANNOTATION,
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION,
    SIDECARSET_INJECTED_LIST_ANNOTATION,
)
from workers.podmechanics.gohash import go_json
from workers.podmechanics.kube_json import JsonDict, JsonObject, as_object, as_objects, as_text
from workers.podmechanics.pods import PodView

INPLACE_UPDATE_STATE_ANNOTATION = "kruise.io/sidecarset-inplace-update-state"
UPGRADABLE_CONDITION = "SidecarSetUpgradable"


@dataclass(frozen=True)
class SetView:
    """The parts of a (defaulted) SidecarSet the upgrade reads."""

    name: str
    hash: str
    """``kruise.io/sidecarset-hash`` of the SidecarSet (``GetSidecarSetRevision``)."""
    hash_without_image: str
    sidecar_names: frozenset[str]
    """``GetSidecarContainersInPod``: the containers' names (``-1``/``-2`` for HotUpgrade ones)."""
    sidecar_list: tuple[str, ...]
    """``listSidecarNameInSidecarSet``, sorted: containers plus native-sidecar init containers."""
    cold_images: Mapping[str, str]
    """Cold-upgrade sidecar container name -> its image now."""
    hot: bool
    """Some sidecar container is a HotUpgrade one (its upgrade is not implemented)."""
    latest_revision: str = ""


def read_set(raw: JsonObject, hashes: tuple[str, str]) -> SetView:
    """``raw`` is the defaulted SidecarSet; ``hashes`` its (hash, hash-without-image)."""
    spec = as_object(raw.get("spec"))
    names: set[str] = set()
    listed: set[str] = set()
    images: dict[str, str] = {}
    hot = False
    for container in as_objects(spec.get("containers")):
        name = as_text(container.get("name"))
        listed.add(name)
        if as_object(container.get("upgradeStrategy")).get("upgradeType") == "HotUpgrade":
            hot = True
            names.update((f"{name}-1", f"{name}-2"))
        else:
            names.add(name)
            images[name] = as_text(container.get("image"))
    for container in as_objects(spec.get("initContainers")):
        if container.get("restartPolicy") == "Always":
            listed.add(as_text(container.get("name")))
    return SetView(
        name=as_text(as_object(raw.get("metadata")).get("name")),
        hash=hashes[0],
        hash_without_image=hashes[1],
        sidecar_names=frozenset(names),
        sidecar_list=tuple(sorted(listed)),
        cold_images=images,
        hot=hot,
        latest_revision=as_text(as_object(raw.get("status")).get("latestRevision")),
    )


def _upgrade_specs(pod: PodView, key: str) -> dict[str, JsonDict]:
    """The pod's ``SidecarSetUpgradeSpec`` map of annotation ``key`` (the older ``name: hash``
    form read as kruise reads it; malformed: empty)."""
    raw = pod.annotations.get(key, "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {
        str(k): dict(v) if isinstance(v, dict) else {"hash": str(v), "sidecarSetName": str(k)}
        for k, v in parsed.items()
    }


def pod_hash(pod: PodView, set_name: str) -> str:
    """``GetPodSidecarSetRevision``."""
    return as_text(_upgrade_specs(pod, SIDECARSET_HASH_ANNOTATION).get(set_name, {}).get("hash"))


def pod_hash_without_image(pod: PodView, set_name: str) -> str:
    return as_text(
        _upgrade_specs(pod, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION).get(set_name, {}).get("hash")
    )


def pod_controller_revision(pod: PodView, set_name: str) -> str:
    """``GetPodSidecarSetControllerRevision``."""
    spec = _upgrade_specs(pod, SIDECARSET_HASH_ANNOTATION).get(set_name, {})
    return as_text(spec.get("controllerRevision"))


def _containers(pod: PodView) -> dict[str, JsonObject]:
    return {as_text(c.get("name")): c for c in as_objects(as_object(pod.raw.get("spec")).get("containers"))}


def _statuses(pod: PodView) -> tuple[JsonObject, ...]:
    return as_objects(as_object(pod.raw.get("status")).get("containerStatuses"))


def is_injected(pod: PodView, view: SetView) -> bool:
    """``IsPodInjectedSidecarSet``: named in ``kruise.io/sidecarset-injected-list``."""
    listed = pod.annotations.get(SIDECARSET_INJECTED_LIST_ANNOTATION, "")
    return view.name in listed.split(",") if listed else False


def is_consistent_with_set(pod: PodView, raw_spec: JsonObject) -> bool:
    """``IsPodConsistentWithSidecarSet``: every sidecar of the set is in the pod (both of a hot pair,
    and the working-container annotation names it)."""
    containers = _containers(pod)
    working = pod.annotations.get("kruise.io/sidecarset-working-hotupgrade-container", "")
    for sidecar in as_objects(raw_spec.get("containers")):
        name = as_text(sidecar.get("name"))
        if as_object(sidecar.get("upgradeStrategy")).get("upgradeType") == "HotUpgrade":
            try:
                infos = json.loads(working) if working else {}
            except ValueError:
                infos = {}
            if not isinstance(infos, dict) or name not in infos:
                return False
            if f"{name}-1" not in containers or f"{name}-2" not in containers:
                return False
        elif name not in containers:
            return False
    return True


def is_updated(pod: PodView, view: SetView) -> bool:
    """``IsPodSidecarUpdated``: the pod's hash entry is the SidecarSet's hash."""
    return view.hash == pod_hash(pod, view.name)


def is_pod_ready(pod: PodView) -> bool:
    """``IsPodReady`` for cold sidecars: ``util.IsRunningAndReady`` (Running, Ready, not deleting)."""
    return pod.phase == "Running" and pod.ready and not pod.deleting


def _is_digest(image: str) -> bool:
    return "@" in image


def _digest_equal(image: str, image_id: str) -> bool:
    """``IsContainerImageEqual`` for a digest image: the same digest."""
    return image.rpartition("@")[2] == image_id.rpartition("@")[2]


def _update_completed(pod: PodView, set_name: str, names: frozenset[str]) -> bool:
    """``IsSidecarContainerUpdateCompleted``: no sidecar still reports the imageID it had when its
    image was changed while its spec image differs from what runs."""
    raw = pod.annotations.get(INPLACE_UPDATE_STATE_ANNOTATION)
    if raw is None:
        return True
    try:
        states = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(states, dict):
        return False
    last = as_object(as_object(states.get(set_name)).get("lastContainerStatuses"))
    images = {name: as_text(c.get("image")) for name, c in _containers(pod).items()}
    for status in _statuses(pod):
        name = as_text(status.get("name"))
        if name not in names or name not in last:
            continue
        old = as_object(last[name])
        if as_text(old.get("imageID")) == as_text(status.get("imageID")) and images.get(name) != as_text(
            status.get("image")
        ):
            return False
    return True


def is_state_consistent(pod: PodView, view: SetView, names: frozenset[str] | None = None) -> bool:
    """``IsPodStateConsistent``: what runs is what the spec asks for (``names``: these sidecars;
    None: all of the set's)."""
    containers = _containers(pod)
    statuses = _statuses(pod)
    if len(containers) != len(statuses):
        return False
    names = names or view.sidecar_names
    image_ids = {as_text(s.get("name")): as_text(s.get("imageID")) for s in statuses}
    all_digest = True
    for name, container in containers.items():
        if name not in names:
            continue
        image = as_text(container.get("image"))
        if not _is_digest(image):
            all_digest = False
            break
        if name not in image_ids or not _digest_equal(image, image_ids[name]):
            return False
    if all_digest:
        return True
    return _update_completed(pod, view.name, names)


def is_upgradable(pod: PodView, view: SetView) -> tuple[bool, bool]:
    """``IsSidecarSetUpgradable``: (only images changed since the pod's injection, and every ready
    sidecar runs what its spec asks for)."""
    if pod_hash_without_image(pod, view.name) != view.hash_without_image:
        return False, False
    ready = {as_text(s.get("name")): s.get("ready") is True for s in _statuses(pod)}
    for name in sorted(view.sidecar_names):
        if ready.get(name) and not is_state_consistent(pod, view, frozenset((name,))):
            return True, False
    return True, True


def _go_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _upgrade_spec(entry: Mapping[str, Any]) -> JsonDict:
    """Go's JSON of ``SidecarSetUpgradeSpec`` (field order; controllerRevision omitempty)."""
    spec: JsonDict = {
        "updateTimestamp": entry.get("updateTimestamp"),
        "hash": as_text(entry.get("hash")),
        "sidecarSetName": as_text(entry.get("sidecarSetName")),
        "sidecarList": entry.get("sidecarList"),
    }
    if entry.get("controllerRevision"):
        spec["controllerRevision"] = entry["controllerRevision"]
    return spec


def changed_images(pod: PodView, view: SetView) -> dict[str, str]:
    """``UpgradeSidecarContainer`` for each cold sidecar: name -> new image where it differs."""
    containers = _containers(pod)
    return {
        name: image
        for name, image in view.cold_images.items()
        if name in containers and as_text(containers[name].get("image")) != image
    }


def upgrade_patch(pod: PodView, view: SetView, revision: str, now: datetime) -> JsonDict:
    """The strategic-merge patch upgrading the pod's cold sidecars to the set's images (with the
    pod's resourceVersion, so a pod changed since it was read is re-planned)."""
    stamp = _go_time(now)
    changed = changed_images(pod, view)
    hashes = {
        name: _upgrade_spec(entry) for name, entry in _upgrade_specs(pod, SIDECARSET_HASH_ANNOTATION).items()
    }
    hashes[view.name] = _upgrade_spec(
        {
            "updateTimestamp": stamp,
            "hash": view.hash,
            "sidecarSetName": view.name,
            "sidecarList": list(view.sidecar_list),
            "controllerRevision": revision,
        }
    )
    states: dict[str, Any] = {}
    raw_states = pod.annotations.get(INPLACE_UPDATE_STATE_ANNOTATION, "")
    if raw_states:
        try:
            parsed = json.loads(raw_states)
        except ValueError:
            parsed = {}
        states = dict(parsed) if isinstance(parsed, dict) else {}
    state = as_object(states.get(view.name))
    image_ids = {as_text(s.get("name")): as_text(s.get("imageID")) for s in _statuses(pod)}
    last: dict[str, JsonDict] = {
        k: dict(as_object(v)) for k, v in as_object(state.get("lastContainerStatuses")).items()
    }
    for name in changed:
        last[name] = {"imageID": image_ids[name]} if image_ids.get(name) else {}
    kept = {
        k: v for k, v in state.items() if k not in ("revision", "updateTimestamp", "lastContainerStatuses")
    }
    states[view.name] = {
        "revision": as_text(state.get("revision")) if state else view.hash,
        "updateTimestamp": state.get("updateTimestamp") if state else stamp,
        "lastContainerStatuses": {k: last[k] for k in sorted(last)},
        **kept,
    }
    annotations = {
        SIDECARSET_HASH_ANNOTATION: go_json({k: hashes[k] for k in sorted(hashes)}).decode(),
        INPLACE_UPDATE_STATE_ANNOTATION: go_json({k: states[k] for k in sorted(states)}).decode(),
    }
    metadata: JsonDict = {"annotations": annotations}
    if pod.resource_version:
        metadata["resourceVersion"] = pod.resource_version
    patch: JsonDict = {"metadata": metadata}
    if changed:
        patch["spec"] = {"containers": [{"name": n, "image": changed[n]} for n in sorted(changed)]}
    return patch


def upgradable_condition(pod: PodView, set_name: str, upgradable: bool, now: datetime) -> JsonDict | None:
    """The pod's ``SidecarSetUpgradable`` condition with ``set_name`` marked, or None when it
    would not change (kruise skips the patch then)."""
    old = pod.conditions.get(UPGRADABLE_CONDITION)
    kv: dict[str, Any] = {}
    if old is not None and as_text(old.get("message")):
        try:
            parsed = json.loads(as_text(old.get("message")))
        except ValueError:
            return None  # kruise returns the unmarshal error and writes nothing
        kv = dict(parsed) if isinstance(parsed, dict) else {}
    kv[set_name] = upgradable
    all_true = all(v is not False for v in kv.values())
    status = "True" if all_true else "False"
    reason = "AllSidecarsetUpgradable" if all_true else "UpdateImmutableField"
    message = json.dumps({k: kv[k] for k in sorted(kv)}, separators=(",", ":"))
    if old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (
        status,
        reason,
        message,
    ):
        return None
    condition: JsonDict = {
        "type": UPGRADABLE_CONDITION,
        "status": status,
        "reason": reason,
        "message": message,
    }
    if old is None or old.get("status") != status:
        condition["lastTransitionTime"] = _go_time(now)
    elif old.get("lastTransitionTime"):
        condition["lastTransitionTime"] = old["lastTransitionTime"]
    return condition


def selected_by_strategy(pod: PodView, selector: object) -> bool:
    """The update strategy's ``selector`` (None: every pod)."""
    if selector is None:
        return True
    return isinstance(selector, Mapping) and bool(meta.selector_matches(selector, pod.labels))
