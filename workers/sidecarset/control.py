"""What one SidecarSet asks of one pod: kruise's ``sidecarcontrol`` predicates and its pod writes.

``SetView`` is the SidecarSet as the planner reads it (its two hashes, its sidecar container
names, the cold sidecars' images, the hot ones' images and empty images). The predicates follow
kruise v1.9.1
``pkg/control/sidecarcontrol`` (``IsPodInjectedSidecarSet``, ``IsPodConsistentWithSidecarSet``,
``IsPodSidecarUpdated``, ``IsSidecarSetUpgradable``, ``IsPodStateConsistent``, ``IsPodReady``);
``upgrade_patch`` is ``updatePodSidecarContainer``: the new images (a hot sidecar's on the idle
container of its pair, ``findContainerToHotUpgrade``, with the version annotations), the pod's
``kruise.io/sidecarset-hash`` entry rewritten (``UpdatePodSidecarSetHash``) and
``kruise.io/sidecarset-inplace-update-state`` (``UpdatePodAnnotationsInUpgrade``), then the set's
``patchPodMetadata`` (``PatchPodMetadata``, ``podmechanics.sidecarmeta``), in Go's JSON
and field order so a pod written by Flotilla reads the same to kruise, and the reverse.
``flip_patch`` is ``flipPodSidecarContainerDo`` (the old container of a hot pair back to the empty
image); ``upgradable_condition`` is the pod's ``SidecarSetUpgradable`` condition
(``updatePodSidecarSetUpgradableCondition``). Pure; called by ``strategy`` and ``planner``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from workers.podmechanics.sidecarmeta import patch_annotations

INPLACE_UPDATE_STATE_ANNOTATION = "kruise.io/sidecarset-inplace-update-state"
WORKING_ANNOTATION = "kruise.io/sidecarset-working-hotupgrade-container"
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
    """Some sidecar container is a HotUpgrade one."""
    latest_revision: str = ""
    hot_sidecars: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """HotUpgrade sidecar name -> (its image, ``hotUpgradeEmptyImage``)."""
    resource_version: str = ""
    """The SidecarSet's resourceVersion (kruise writes it into the hot pair's version annotations)."""
    metadata_patches: tuple[Mapping[str, Any], ...] = ()
    """``spec.patchPodMetadata``, applied to the pod's annotations by the upgrade."""


def read_set(raw: JsonObject, hashes: tuple[str, str]) -> SetView:
    """``raw`` is the defaulted SidecarSet; ``hashes`` its (hash, hash-without-image)."""
    spec = as_object(raw.get("spec"))
    names: set[str] = set()
    listed: set[str] = set()
    images: dict[str, str] = {}
    hot_sidecars: dict[str, tuple[str, str]] = {}
    hot = False
    for container in as_objects(spec.get("containers")):
        name = as_text(container.get("name"))
        listed.add(name)
        strategy = as_object(container.get("upgradeStrategy"))
        if strategy.get("upgradeType") == "HotUpgrade":
            hot = True
            names.update((f"{name}-1", f"{name}-2"))
            hot_sidecars[name] = (
                as_text(container.get("image")),
                as_text(strategy.get("hotUpgradeEmptyImage")),
            )
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
        hot_sidecars=hot_sidecars,
        resource_version=as_text(as_object(raw.get("metadata")).get("resourceVersion")),
        metadata_patches=as_objects(spec.get("patchPodMetadata")),
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
    infos = working_containers(pod)
    for sidecar in as_objects(raw_spec.get("containers")):
        name = as_text(sidecar.get("name"))
        if as_object(sidecar.get("upgradeStrategy")).get("upgradeType") == "HotUpgrade":
            if name not in infos:
                return False
            if f"{name}-1" not in containers or f"{name}-2" not in containers:
                return False
        elif name not in containers:
            return False
    return True


def is_updated(pod: PodView, view: SetView) -> bool:
    """``IsPodSidecarUpdated``: the pod's hash entry is the SidecarSet's hash."""
    return view.hash == pod_hash(pod, view.name)


def working_containers(pod: PodView) -> dict[str, str]:
    """``GetPodHotUpgradeInfoInAnnotations``: sidecar name -> its working container (malformed: {})."""
    raw = pod.annotations.get(WORKING_ANNOTATION, "")
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def hot_pair(pod: PodView, name: str) -> tuple[str, str]:
    """``GetPodHotUpgradeContainers``: (working, other) of the sidecar's ``-1``/``-2`` pair."""
    first, second = f"{name}-1", f"{name}-2"
    return (first, second) if working_containers(pod).get(name) == first else (second, first)


def _image(pod: PodView, name: str) -> str:
    return as_text(_containers(pod).get(name, {}).get("image"))


def is_running_and_ready(pod: PodView) -> bool:
    """``util.IsRunningAndReady``: Running, Ready, not being deleted."""
    return pod.phase == "Running" and pod.ready and not pod.deleting


def is_pod_ready(pod: PodView, view: SetView) -> bool:
    """``IsPodReady``: each hot pair's idle container runs the empty image, and the pod is running
    and ready."""
    for name, (_image_now, empty) in view.hot_sidecars.items():
        _, idle = hot_pair(pod, name)
        if empty and idle in _containers(pod) and _image(pod, idle) != empty:
            return False
    return is_running_and_ready(pod)


def in_hot_upgrading(pod: PodView, view: SetView) -> bool:
    """``isPodSidecarInHotUpgrading``: some hot pair's idle container is not on the empty image."""
    return any(_image(pod, hot_pair(pod, n)[1]) != empty for n, (_i, empty) in view.hot_sidecars.items())


def hot_upgrading_ready(pod: PodView, view: SetView) -> bool:
    """``isHotUpgradingReady``: running and ready, or every container but the idle ones ready."""
    if is_running_and_ready(pod):
        return True
    idle = {hot_pair(pod, n)[1] for n in view.hot_sidecars}
    return all(s.get("ready") is True for s in _statuses(pod) if as_text(s.get("name")) not in idle)


def working_sidecars(pod: PodView, view: SetView) -> frozenset[str]:
    """The set's sidecar containers without the hot pairs' idle ones."""
    return view.sidecar_names - {hot_pair(pod, n)[1] for n in view.hot_sidecars}


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


def _to_hot_upgrade(pod: PodView, view: SetView, name: str, empty: str) -> tuple[str, str]:
    """``findContainerToHotUpgrade``: (the container to upgrade, the other one)."""
    first, second = f"{name}-1", f"{name}-2"
    if _image(pod, first) == empty:
        return first, second
    if _image(pod, second) == empty:
        return second, first
    ready = {as_text(s.get("name")): s.get("ready") is True for s in _statuses(pod)}
    first_ok = ready.get(first, False) and is_state_consistent(pod, view, frozenset((first,)))
    second_ok = ready.get(second, False) and is_state_consistent(pod, view, frozenset((second,)))
    if first_ok and not second_ok:
        return second, first
    if second_ok and not first_ok:
        return first, second
    working, other = hot_pair(pod, name)
    return other, working


@dataclass(frozen=True)
class Upgrade:
    """What ``updatePodSidecarContainer`` changes on one pod."""

    images: dict[str, str]
    """Container name -> its new image."""
    annotations: dict[str, str]
    """The hot pairs' working-container and version annotations."""


def upgrade_of(pod: PodView, view: SetView) -> Upgrade:
    """``UpgradeSidecarContainer`` for every sidecar (a cold one: its image where it differs; a hot
    one: the set's image on the idle container, which becomes the working one)."""
    containers = _containers(pod)
    images = {
        name: image
        for name, image in view.cold_images.items()
        if name in containers and as_text(containers[name].get("image")) != image
    }
    annotations: dict[str, str] = {}
    working = working_containers(pod)
    for name, (image, empty) in view.hot_sidecars.items():
        target, other = _to_hot_upgrade(pod, view, name, empty)
        if _image(pod, other) == image:
            continue
        images[target] = image
        first, second = f"{name}-1", f"{name}-2"
        older = second if target == first else first
        working[name] = target
        annotations[f"version.sidecarset.kruise.io/{target}"] = view.resource_version
        annotations[f"versionalt.sidecarset.kruise.io/{target}"] = pod.annotations.get(
            f"version.sidecarset.kruise.io/{older}", ""
        )
        annotations[f"versionalt.sidecarset.kruise.io/{older}"] = view.resource_version
    if annotations:
        annotations[WORKING_ANNOTATION] = go_json(working, sort_keys=True).decode()
    return Upgrade(images, annotations)


def changed_images(pod: PodView, view: SetView) -> dict[str, str]:
    return upgrade_of(pod, view).images


def _inplace_state(pod: PodView, view: SetView, changed: Sequence[str], stamp: str) -> str:
    """``UpdatePodAnnotationsInUpgrade``: the set's entry (kept when there is one) with the changed
    containers' imageIDs of now."""
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
    return go_json({k: states[k] for k in sorted(states)}).decode()


def _patch(pod: PodView, annotations: dict[str, str], images: Mapping[str, str]) -> JsonDict:
    metadata: JsonDict = {"annotations": annotations}
    if pod.resource_version:
        metadata["resourceVersion"] = pod.resource_version
    patch: JsonDict = {"metadata": metadata}
    if images:
        patch["spec"] = {"containers": [{"name": n, "image": images[n]} for n in sorted(images)]}
    return patch


def upgrade_patch(pod: PodView, view: SetView, revision: str, now: datetime) -> JsonDict:
    """The strategic-merge patch upgrading the pod's sidecars to the set's images (with the pod's
    resourceVersion, so a pod changed since it was read is re-planned), and the set's
    ``patchPodMetadata`` applied to the pod's annotations after that (``updatePodSidecarAndHash``);
    raises ``MetadataPatchError`` where kruise's ``PatchPodMetadata`` fails (no write then)."""
    stamp = _go_time(now)
    upgrade = upgrade_of(pod, view)
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
    annotations = {
        **upgrade.annotations,
        SIDECARSET_HASH_ANNOTATION: go_json({k: hashes[k] for k in sorted(hashes)}).decode(),
        INPLACE_UPDATE_STATE_ANNOTATION: _inplace_state(pod, view, sorted(upgrade.images), stamp),
    }
    written = {**pod.annotations, **annotations}
    patched = patch_annotations(written, view.metadata_patches)
    annotations.update({k: v for k, v in patched.items() if written.get(k) != v})
    return _patch(pod, annotations, upgrade.images)


def flip_patch(pod: PodView, view: SetView, now: datetime) -> JsonDict:
    """``flipPodSidecarContainerDo``: once the working container of a hot pair runs the new image,
    the idle one goes back to the empty image (its version annotation and the working one's
    versionalt to "0"); the pod's hash is not touched."""
    images: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for name, (_image_now, empty) in view.hot_sidecars.items():
        working, idle = hot_pair(pod, name)
        if _image(pod, idle) == empty:
            continue
        images[idle] = empty
        annotations[f"version.sidecarset.kruise.io/{idle}"] = "0"
        annotations[f"versionalt.sidecarset.kruise.io/{working}"] = "0"
    annotations[INPLACE_UPDATE_STATE_ANNOTATION] = _inplace_state(pod, view, sorted(images), _go_time(now))
    return _patch(pod, annotations, images)


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
