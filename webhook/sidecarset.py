"""Pod CREATE: inject the sidecars of every SidecarSet that matches the pod (kruise
``sidecarsetMutatingPod``, ``pkg/webhook/pod/mutating/sidecarset.go``); pod UPDATE: kruise's
answer, the pod unchanged (:func:`keep_on_update`); SidecarSet CREATE/UPDATE: kruise's
validation including the check against the other SidecarSets.

:func:`inject` is pure: the pod, the SidecarSets (as the API server serves them, already defaulted
and hashed by the SidecarSet mutating route), the namespace's labels and the time in; the pod's
new containers, init containers, volumes, imagePullSecrets and annotations out, as a JSON patch.
It writes what kruise writes: sidecars before/after the app containers by ``podInjectPolicy``,
init containers sorted by name after the pod's own, ``IS_INJECTED=true`` and the transferred env
on every sidecar, the app containers' volumeMounts when ``shareVolumePolicy`` is enabled, only the
SidecarSet volumes a sidecar mounts and never over a pod volume of the same name, the HotUpgrade
``-1``/``-2`` pair, and the annotations ``kruise.io/sidecarset-hash``,
``kruise.io/sidecarset-hash-without-image`` (Go's JSON of ``SidecarSetUpgradeSpec`` by SidecarSet
name) and ``kruise.io/sidecarset-injected-list``. ``gather_injection`` reads the SidecarSets from the
process's watch-fed cache (:mod:`webhook.sidecarsetcache`; kruise reads its informer) and the
namespace's labels when one has a namespaceSelector; the SidecarSet conflict check lists them.
``patchPodMetadata`` is applied through :mod:`workers.podmechanics.sidecarmeta`; a pinned
``injectionStrategy.revision`` is looked up by the gather (:func:`webhook.sidecarsetrevision.find`)
and injected as kruise chooses it; a sidecar's ``resourcesPolicy`` computes its resources from
the pod's containers (:mod:`webhook.sidecarsetresources`). At SidecarSet admission the gather also
reads the pinned revision and kruise's configuration ConfigMap (the patchPodMetadata whitelist).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from flotilla.runtime.errors import KubeError
from flotilla.runtime.features import Feature
from schemas.kruise.rules import meta
from schemas.kruise.rules import sidecarset as rules
from schemas.kruise.sidecarset import (
    SIDECARSET_HASH_ANNOTATION,
    SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION,
    SIDECARSET_INJECTED_LIST_ANNOTATION,
)
from webhook import kruisekinds
from webhook import sidecarsetrevision as revision_choice
from webhook.dispatch import NO_FACTS, AdmissionConfig, Cluster, Facts, Route, RouteKey
from webhook.review import AdmissionRequest, JsonObject, Verdict, allowed, denied, patched
from webhook.sidecarsetresources import ResourcesPolicyError, sidecar_resources
from workers.podmechanics.gohash import go_json
from workers.podmechanics.sidecarmeta import MetadataPatchError, patch_annotations, whitelist_error

JsonDict = dict[str, Any]
log = logging.getLogger(__name__)

SIDECAR_ENV_KEY = "IS_INJECTED"
WORKING_HOT_UPGRADE_ANNOTATION = "kruise.io/sidecarset-working-hotupgrade-container"
VERSION_ENV = "SIDECARSET_VERSION"
VERSION_ALT_ENV = "SIDECARSET_VERSION_ALT"
#: kruise's own fields of a SidecarContainer; the pod gets the plain core/v1 Container.
_KRUISE_FIELDS = (
    "podInjectPolicy",
    "upgradeStrategy",
    "shareVolumePolicy",
    "shareVolumeDevicePolicy",
    "transferEnv",
    "resourcesPolicy",
)
_SUBPATH_ENV = re.compile(r"\$\([-._a-zA-Z][-._a-zA-Z0-9]*\)")
_SUBSCRIPT = re.compile(r"^(metadata\.(?:annotations|labels))\['(.*)'\]$")


class InjectionError(ValueError):
    """kruise refuses the pod (500) with this message."""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def pod_active(pod: Mapping[str, Any]) -> bool:
    """``IsPodActive``: not Succeeded, not Failed, not being deleted."""
    phase = _dict(pod.get("status")).get("phase")
    return phase not in ("Succeeded", "Failed") and not _dict(pod.get("metadata")).get("deletionTimestamp")


def needs_namespace_labels(sidecarset: Mapping[str, Any]) -> bool:
    return _dict(sidecarset.get("spec")).get("namespaceSelector") is not None


def matches(
    pod: Mapping[str, Any], sidecarset: Mapping[str, Any], namespace_labels: Mapping[str, str] | None
) -> bool:
    """kruise ``PodMatchedSidecarSet``: namespaceSelector (and v1alpha1's namespace), then selector."""
    spec = _dict(sidecarset.get("spec"))
    namespace = str(_dict(pod.get("metadata")).get("namespace") or "default")
    if spec.get("namespace") and spec["namespace"] != namespace:
        return False
    ns_selector = spec.get("namespaceSelector")
    if ns_selector is not None and not meta.selector_matches(_dict(ns_selector), namespace_labels or {}):
        return False
    selector = _dict(spec.get("selector"))
    if meta.selector_is_empty(selector):
        return False
    return bool(meta.selector_matches(selector, _dict(_dict(pod.get("metadata")).get("labels"))))


def _container_name_from(field_ref: Mapping[str, Any], pod: Mapping[str, Any]) -> str | None:
    """``ExtractContainerNameFromFieldPath``: labels['k'] or annotations['k'] (else None, skipped)."""
    found = _SUBSCRIPT.match(str(field_ref.get("fieldPath") or ""))
    if found is None:
        return None
    source = "labels" if found.group(1) == "metadata.labels" else "annotations"
    return str(_dict(_dict(pod.get("metadata")).get(source)).get(found.group(2), ""))


def transfer_envs(sidecar: Mapping[str, Any], pod: Mapping[str, Any]) -> list[JsonDict]:
    """``GetSidecarTransferEnvs``: the named env vars of the source app containers."""
    in_pod = {
        (str(_dict(c).get("name")), str(_dict(e).get("name"))): dict(_dict(e))
        for c in _list(_dict(pod.get("spec")).get("containers"))
        for e in _list(_dict(c).get("env"))
    }
    out: list[JsonDict] = []
    for transfer in (_dict(t) for t in _list(sidecar.get("transferEnv"))):
        names = {str(n) for n in _list(transfer.get("envNames"))}
        if transfer.get("envName"):
            names.add(str(transfer["envName"]))
        source = str(transfer.get("sourceContainerName") or "")
        ref = _dict(transfer.get("sourceContainerNameFrom")).get("fieldRef")
        if isinstance(ref, Mapping):
            from_field = _container_name_from(ref, pod)
            if from_field is None:
                continue
            source = from_field
        for name in sorted(names):
            if (source, name) in in_pod:
                out.append(in_pod[(source, name)])
    return out


def _merge_env(original: list[JsonDict], extra: Sequence[JsonDict]) -> list[JsonDict]:
    """``util.MergeEnvVar``: extra names not yet present, appended in order."""
    names = {str(e.get("name")) for e in original}
    for env in extra:
        if str(env.get("name")) not in names:
            original.append(env)
            names.add(str(env.get("name")))
    return original


def _shared_mounts(
    sidecar: Mapping[str, Any], pod: Mapping[str, Any]
) -> tuple[list[JsonDict], list[JsonDict]]:
    """``GetInjectedVolumeMountsAndEnvs``: the app containers' mounts (and their subPathExpr env)."""
    if _dict(sidecar.get("shareVolumePolicy")).get("type") != "enabled":
        return [], []
    mounts: list[JsonDict] = []
    envs: list[JsonDict] = []
    for app in (_dict(c) for c in _list(_dict(pod.get("spec")).get("containers"))):
        app_env = [_dict(e) for e in _list(app.get("env"))]
        if any(e.get("name") == SIDECAR_ENV_KEY and e.get("value") == "true" for e in app_env):
            continue
        for mount in (_dict(m) for m in _list(app.get("volumeMounts"))):
            mounts.append(dict(mount))
            for ref in _SUBPATH_ENV.findall(str(mount.get("subPathExpr") or "")):
                var = next((e for e in app_env if e.get("name") == ref[2:-1]), None)
                if var is not None:
                    envs.append(dict(var))
    return mounts, envs


def _shared_devices(sidecar: Mapping[str, Any], pod: Mapping[str, Any]) -> list[JsonDict]:
    """``GetInjectedVolumeDevices``."""
    if _dict(sidecar.get("shareVolumeDevicePolicy")).get("type") != "enabled":
        return []
    return [
        dict(_dict(d))
        for app in (_dict(c) for c in _list(_dict(pod.get("spec")).get("containers")))
        for d in _list(app.get("volumeDevices"))
    ]


def _merge_mounts(container: Mapping[str, Any], extra: Sequence[JsonDict]) -> list[JsonDict]:
    """``util.MergeVolumeMounts``: by mountPath (a device path counts as taken)."""
    original = [dict(_dict(m)) for m in _list(container.get("volumeMounts"))]
    taken = {str(m.get("mountPath")) for m in original}
    taken |= {str(_dict(d).get("devicePath")) for d in _list(container.get("volumeDevices"))}
    for mount in extra:
        if str(mount.get("mountPath")) not in taken:
            original.append(mount)
            taken.add(str(mount.get("mountPath")))
    return original


def _merge_devices(container: Mapping[str, Any], extra: Sequence[JsonDict]) -> list[JsonDict]:
    """``util.MergeVolumeDevices``: by devicePath (a mount path counts as taken)."""
    original = [dict(_dict(d)) for d in _list(container.get("volumeDevices"))]
    taken = {str(d.get("devicePath")) for d in original}
    taken |= {str(_dict(m).get("mountPath")) for m in _list(container.get("volumeMounts"))}
    for device in extra:
        if str(device.get("devicePath")) not in taken:
            original.append(device)
            taken.add(str(device.get("devicePath")))
    return original


def _prepared(sidecar: Mapping[str, Any], pod: Mapping[str, Any]) -> JsonDict:
    """The sidecar with the shared mounts, IS_INJECTED and the transferred env merged in."""
    out: JsonDict = copy.deepcopy(dict(sidecar))
    mounts, mount_envs = _shared_mounts(sidecar, pod)
    transferred = _merge_env(transfer_envs(sidecar, pod), mount_envs)
    merged_mounts = _merge_mounts(out, mounts)
    if merged_mounts:
        out["volumeMounts"] = merged_mounts
    env = [dict(_dict(e)) for e in _list(out.get("env"))]
    env.append({"name": SIDECAR_ENV_KEY, "value": "true"})
    out["env"] = _merge_env(env, transferred)
    devices = _merge_devices(out, _shared_devices(sidecar, pod))
    if devices:
        out["volumeDevices"] = devices
    return out


def _version_env(container: JsonDict) -> None:
    name = container["name"]
    for env, prefix in ((VERSION_ENV, "version"), (VERSION_ALT_ENV, "versionalt")):
        path = f"metadata.annotations['{prefix}.sidecarset.kruise.io/{name}']"
        container.setdefault("env", []).append({"name": env, "valueFrom": {"fieldRef": {"fieldPath": path}}})


def _hot_pair(sidecar: JsonDict, working: dict[str, str], annotations: dict[str, str]) -> list[JsonDict]:
    """``injectHotUpgradeContainers``: ``<name>-1`` runs the image, ``<name>-2`` the empty image."""
    first, second = copy.deepcopy(sidecar), copy.deepcopy(sidecar)
    first["name"], second["name"] = f"{sidecar['name']}-1", f"{sidecar['name']}-2"
    second["image"] = _dict(sidecar.get("upgradeStrategy")).get("hotUpgradeEmptyImage")
    _version_env(first)
    _version_env(second)
    annotations[f"version.sidecarset.kruise.io/{first['name']}"] = "1"
    annotations[f"versionalt.sidecarset.kruise.io/{first['name']}"] = "0"
    annotations[f"version.sidecarset.kruise.io/{second['name']}"] = "0"
    annotations[f"versionalt.sidecarset.kruise.io/{second['name']}"] = "1"
    working[str(sidecar["name"])] = first["name"]
    annotations[WORKING_HOT_UPGRADE_ANNOTATION] = go_json(working, sort_keys=True).decode()
    return [first, second]


def _upgrade_specs(annotations: Mapping[str, str], key: str, pod_key: str) -> dict[str, JsonDict]:
    raw = annotations.get(key)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as err:
        raise InjectionError(
            f"pod({pod_key}) invalid annotations[{key}] value {raw}, unmarshal failed: {err}"
        ) from None
    if not isinstance(parsed, dict):
        raise InjectionError(f"pod({pod_key}) invalid annotations[{key}] value {raw}")
    return {
        str(k): dict(v) if isinstance(v, dict) else {"hash": str(v), "sidecarSetName": str(k)}
        for k, v in parsed.items()
    }


def _upgrade_spec(stamp: str, digest: str, name: str, sidecars: list[str], revision: str = "") -> JsonDict:
    """Go's JSON of ``SidecarSetUpgradeSpec`` (its field order)."""
    spec: JsonDict = {
        "updateTimestamp": stamp,
        "hash": digest,
        "sidecarSetName": name,
        "sidecarList": sidecars,
    }
    if revision:
        spec["controllerRevision"] = revision
    return spec


def _strip(container: JsonDict) -> JsonDict:
    return {k: v for k, v in container.items() if k not in _KRUISE_FIELDS}


def _merge_containers(origins: list[JsonDict], injected: Sequence[JsonDict]) -> list[JsonDict]:
    """``mergeSidecarContainers``: a sidecar already in the pod replaces it in place; the others go
    before (BeforeAppContainer) or after the app containers."""
    index = {str(c.get("name")): i for i, c in enumerate(origins)}
    before: list[JsonDict] = []
    after: list[JsonDict] = []
    for sidecar in injected:
        name = str(sidecar.get("name"))
        if name in index:
            origins[index[name]] = _strip(sidecar)
        elif sidecar.get("podInjectPolicy") == "BeforeAppContainer":
            before.append(_strip(sidecar))
        else:
            after.append(_strip(sidecar))
    return before + origins + after


def inject(
    pod: Mapping[str, Any],
    sidecarsets: Sequence[Mapping[str, Any]],
    namespace_labels: Mapping[str, str] | None,
    now: dt.datetime,
    *,
    sort_by_name: bool = False,
    revisions: Mapping[str, Mapping[str, Any] | None] | None = None,
    draw: float = 0.0,
) -> list[JsonDict]:
    """The JSON patch injecting every matching, unpaused SidecarSet into a new pod ([] for none),
    each set's ``patchPodMetadata`` applied to the pod's annotations first (``PatchPodMetadata``,
    :mod:`workers.podmechanics.sidecarmeta`). ``revisions`` (set name -> its pinned
    ControllerRevision, None: not found) makes a set with ``injectionStrategy.revision`` inject
    that revision as kruise chooses it (:mod:`webhook.sidecarsetrevision`; ``draw`` the random
    number of a percent partition); a set not in it, or no ``revisions``, injects its latest. Raises
    :class:`InjectionError` where kruise refuses the pod."""
    if not pod_active(pod):
        return []
    matched = sorted(
        (
            s
            for s in sidecarsets
            if not _dict(_dict(s.get("spec")).get("injectionStrategy")).get("paused")
            and matches(pod, s, namespace_labels)
        ),
        key=lambda s: str(_dict(s.get("metadata")).get("name")),
    )
    if not matched:
        return []
    metadata = _dict(pod.get("metadata"))
    if revisions is not None:
        matched = [_suitable(s, revisions, _dict(metadata.get("labels")), draw) for s in matched]
    spec = _dict(pod.get("spec"))
    annotations = {str(k): str(v) for k, v in _dict(metadata.get("annotations")).items()}
    pod_key = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
    for sidecarset in matched:  # PatchPodMetadata before buildSidecars, as kruise
        patches = [_dict(p) for p in _list(_dict(sidecarset.get("spec")).get("patchPodMetadata"))]
        try:
            annotations = patch_annotations(annotations, patches)
        except MetadataPatchError as err:
            raise InjectionError(str(err)) from err
    hashes = _upgrade_specs(annotations, SIDECARSET_HASH_ANNOTATION, pod_key)
    hashes_no_image = _upgrade_specs(annotations, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION, pod_key)
    working: dict[str, str] = {}
    raw_working = annotations.get(WORKING_HOT_UPGRADE_ANNOTATION)
    if raw_working:
        try:
            working = {str(k): str(v) for k, v in dict(json.loads(raw_working)).items()}
        except (ValueError, TypeError):
            working = {}
    names = {n for n in annotations.get(SIDECARSET_INJECTED_LIST_ANNOTATION, "").split(",") if n}
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kruise_sidecars = {
        str(_dict(c).get("name"))
        for s in matched
        for key in ("initContainers", "containers")
        for c in _list(_dict(s.get("spec")).get(key))
    }

    def with_resources(container: Mapping[str, Any]) -> Mapping[str, Any]:
        """``applyResourcesPolicy`` (pod CREATE): the resources computed from the pod's containers."""
        if container.get("resourcesPolicy") is None:
            return container
        try:
            return {**container, "resources": sidecar_resources(pod, container, kruise_sidecars)}
        except ResourcesPolicyError as err:
            raise InjectionError(str(err)) from err

    injected_annotations: dict[str, str] = {}
    containers: list[JsonDict] = []
    init_containers: list[JsonDict] = []
    secrets: list[JsonDict] = []
    volumes: list[JsonDict] = []
    for sidecarset in matched:
        set_meta = _dict(sidecarset.get("metadata"))
        set_spec = _dict(sidecarset.get("spec"))
        set_name = str(set_meta.get("name"))
        set_annotations = _dict(set_meta.get("annotations"))
        names.add(set_name)
        by_volume = {str(_dict(v).get("name")): dict(_dict(v)) for v in _list(set_spec.get("volumes"))}
        sidecar_list: set[str] = set()

        def used_volumes(container: Mapping[str, Any], by_volume: Mapping[str, JsonDict] = by_volume) -> None:
            for ref in (*_list(container.get("volumeMounts")), *_list(container.get("volumeDevices"))):
                volume = by_volume.get(str(_dict(ref).get("name")))
                if volume is not None:
                    volumes.append(volume)

        for raw in (with_resources(_dict(c)) for c in _list(set_spec.get("initContainers"))):
            if rules.is_native_sidecar(raw):
                sidecar_list.add(str(raw.get("name")))
            used_volumes(raw)
            container = _prepared(raw, pod)
            hot = _dict(container.get("upgradeStrategy")).get("upgradeType") == "HotUpgrade"
            if rules.is_native_sidecar(raw) and hot:
                init_containers.extend(_hot_pair(container, working, injected_annotations))
            else:
                init_containers.append(container)
        secrets.extend(dict(_dict(s)) for s in _list(set_spec.get("imagePullSecrets")))
        for raw in (_dict(c) for c in _list(set_spec.get("containers"))):
            sidecar_list.add(str(raw.get("name")))
            raw = with_resources(raw)
            used_volumes(raw)
            container = _prepared(raw, pod)
            if _dict(container.get("upgradeStrategy")).get("upgradeType") == "HotUpgrade":
                containers.extend(_hot_pair(container, working, injected_annotations))
            else:
                containers.append(container)
        sidecars = sorted(sidecar_list)
        if _list(set_spec.get("initContainers")) or _list(set_spec.get("containers")):
            revision = str(_dict(sidecarset.get("status")).get("latestRevision") or "")
            hashes[set_name] = _upgrade_spec(
                stamp, str(set_annotations.get(SIDECARSET_HASH_ANNOTATION, "")), set_name, sidecars, revision
            )
            hashes_no_image[set_name] = _upgrade_spec(
                stamp,
                str(set_annotations.get(SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION, "")),
                set_name,
                sidecars,
            )
    if not containers and not init_containers:
        return []
    injected_annotations[SIDECARSET_HASH_ANNOTATION] = go_json(_sorted_map(hashes)).decode()
    injected_annotations[SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION] = go_json(
        _sorted_map(hashes_no_image)
    ).decode()
    injected_annotations[SIDECARSET_INJECTED_LIST_ANNOTATION] = ",".join(sorted(names))
    return _patch(
        spec, annotations, containers, init_containers, volumes, secrets, injected_annotations, sort_by_name
    )


def _suitable(
    sidecarset: Mapping[str, Any],
    revisions: Mapping[str, Mapping[str, Any] | None],
    labels: Mapping[str, Any],
    draw: float,
) -> Mapping[str, Any]:
    """``getSuitableRevisionSidecarSet`` on CREATE: the pinned revision (``revisions``: set name ->
    the ControllerRevision found, None when there is none) or the latest."""
    name = str(_dict(sidecarset.get("metadata")).get("name"))
    if not revision_choice.wants_revision(sidecarset) or name not in revisions:
        return sidecarset
    revision = revisions[name]
    if revision is None:
        raise InjectionError(revision_choice.not_found(sidecarset))
    history = revision_choice.restore(sidecarset, revision)
    try:
        return revision_choice.choose(sidecarset, history, {str(k): str(v) for k, v in labels.items()}, draw)
    except revision_choice.RevisionChoiceError as err:
        raise InjectionError(str(err)) from err


def _sorted_map(values: Mapping[str, JsonDict]) -> dict[str, JsonDict]:
    return {k: values[k] for k in sorted(values)}


def _patch(
    spec: Mapping[str, Any],
    annotations: dict[str, str],
    containers: list[JsonDict],
    init_containers: list[JsonDict],
    volumes: list[JsonDict],
    secrets: list[JsonDict],
    injected_annotations: Mapping[str, str],
    sort_by_name: bool,
) -> list[JsonDict]:
    init_containers.sort(key=lambda c: str(c.get("name")))
    if sort_by_name:
        containers.sort(key=lambda c: str(c.get("name")))
    ops: list[JsonDict] = []
    new_init = _merge_containers([dict(_dict(c)) for c in _list(spec.get("initContainers"))], init_containers)
    if init_containers:
        ops.append({"op": "add", "path": "/spec/initContainers", "value": new_init})
    new_containers = _merge_containers([dict(_dict(c)) for c in _list(spec.get("containers"))], containers)
    ops.append({"op": "add", "path": "/spec/containers", "value": new_containers})
    pod_volumes = [dict(_dict(v)) for v in _list(spec.get("volumes"))]
    present = {str(v.get("name")) for v in pod_volumes}
    for volume in volumes:
        if str(volume.get("name")) not in present:
            pod_volumes.append(volume)
            present.add(str(volume.get("name")))
    if pod_volumes != _list(spec.get("volumes")):
        ops.append({"op": "add", "path": "/spec/volumes", "value": pod_volumes})
    pod_secrets: list[JsonDict] = []
    seen: set[str] = set()
    for secret in (*(dict(_dict(s)) for s in _list(spec.get("imagePullSecrets"))), *secrets):
        if str(secret.get("name")) not in seen:
            seen.add(str(secret.get("name")))
            pod_secrets.append(secret)
    if pod_secrets != _list(spec.get("imagePullSecrets")):
        ops.append({"op": "add", "path": "/spec/imagePullSecrets", "value": pod_secrets})
    ops.append(
        {"op": "add", "path": "/metadata/annotations", "value": {**annotations, **injected_annotations}}
    )
    return ops


# -- routes --------------------------------------------------------------------------------------


async def gather_injection(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
    pod = request.object
    if pod is None or not config.gates[Feature.POD_WEBHOOK] or request.sub_resource or not pod_active(pod):
        return NO_FACTS
    try:
        sidecarsets = tuple(await cluster.injection_sidecarsets())
        labels: Mapping[str, str] | None = None
        if any(needs_namespace_labels(s) for s in sidecarsets):
            labels = await cluster.namespace_labels(request.namespace or "default")
    except KubeError as err:
        # Fail open, as the registration does: a pod is never refused because SidecarSets could
        # not be read (no CRD yet, no RBAC, API server slow); it is created without sidecars.
        log.warning("SidecarSets not read, %s created without injection: %s", request.key, err)
        return NO_FACTS
    now = dt.datetime.now(dt.UTC)
    if not _dict(pod.get("metadata")).get("namespace") and request.namespace:
        pod = {**pod, "metadata": {**_dict(pod.get("metadata")), "namespace": request.namespace}}
    pinned = [
        s
        for s in sidecarsets
        if revision_choice.wants_revision(s)
        and not _dict(_dict(s.get("spec")).get("injectionStrategy")).get("paused")
        and matches(pod, s, labels)
    ]
    revisions: dict[str, JsonObject | None] = {}
    try:
        for sidecarset in pinned:  # kruise getSpecificHistorySidecarSet: read errors refuse the pod
            found = await revision_choice.find(cluster, sidecarset)
            revisions[str(_dict(sidecarset.get("metadata")).get("name"))] = (
                None if found is None else dict(found)
            )
    except KubeError as err:
        return Facts(sidecarsets=sidecarsets, now=now, error=str(err))
    return Facts(
        sidecarsets=sidecarsets,
        namespace_labels=labels,
        now=now,
        revisions=revisions,
        draw=random.random() if pinned else 0.0,
    )


def inject_sidecars(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    pod = request.object
    if pod is None or not facts.sidecarsets or facts.now is None:
        return allowed()
    if facts.error:
        return denied(500, facts.error)
    if not _dict(pod.get("metadata")).get("namespace") and request.namespace:
        pod = {**pod, "metadata": {**_dict(pod.get("metadata")), "namespace": request.namespace}}
    try:
        ops = inject(
            pod,
            facts.sidecarsets,
            facts.namespace_labels,
            facts.now,
            sort_by_name=config.gates[Feature.ENABLE_SORT_SIDECAR_CONTAINER_BY_NAME],
            revisions=facts.revisions,
            draw=facts.draw,
        )
    except InjectionError as err:
        return denied(500, str(err))
    return patched(ops)


async def gather_others(request: AdmissionRequest, _config: AdmissionConfig, cluster: Cluster) -> Facts:
    """The other SidecarSets (listed now), the pinned ControllerRevision when the SidecarSet pins
    one, and kruise's configuration ConfigMap when it patches pod metadata (a read error there is
    kruise's refusal, as its ``GetSidecarSetPatchMetadataWhiteList`` error is)."""
    obj = request.object or {}
    spec = _dict(obj.get("spec"))
    revisions: dict[str, JsonObject | None] | None = None
    revision_error = ""
    if revision_choice.wants_revision(obj):
        try:
            found = await revision_choice.find(cluster, obj)
            revisions = {str(_dict(obj.get("metadata")).get("name")): None if found is None else dict(found)}
        except KubeError as err:  # kruise: field.Invalid(revision, ..., "Cannot find ..., err: <err>")
            revision_error = f"Cannot find specific ControllerRevision, err: {err}"
    configuration: Mapping[str, str] | None = None
    configuration_error = ""
    if spec.get("patchPodMetadata"):
        try:
            configuration = await cluster.kruise_configuration()
        except KubeError as err:
            configuration_error = str(err)
    return Facts(
        sidecarsets=tuple(await cluster.list_sidecarsets()),
        revisions=revisions,
        kruise_configuration=configuration,
        configuration_error=configuration_error,
        error=revision_error,
    )


def validate_sidecarset(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
    """kruise's ``validateSidecarSet``: the spec first, then (only when it is valid) the conflicts."""
    obj = request.object
    if obj is None:
        return denied(400, f"{request.operation} of SidecarSet without request.object")
    name = str(_dict(obj.get("metadata")).get("name"))
    revision_error = facts.error or None  # the pinned revision could not be read
    if facts.revisions is not None and name in facts.revisions:
        revision_error = revision_choice.admission_error(obj, facts.revisions[name])
    whitelist = facts.configuration_error or whitelist_error(
        obj, facts.kruise_configuration, config.gates[Feature.SIDECAR_SET_PATCH_POD_METADATA_DEFAULTS_ALLOWED]
    )
    errors = rules.validate_sidecarset(
        obj, request.old_object, revision_error=revision_error, whitelist_error=whitelist
    )
    if not errors:
        errors = rules.validate_conflicts(obj, facts.sidecarsets or ())
    # kruise answers its field errors as an error, admission.Errored(500, allErrs.ToAggregate())
    # (pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go:79-85, 650-653)
    return kruisekinds.refusal_of(request, errors) if errors else allowed()


def keep_on_update(request: AdmissionRequest, _config: AdmissionConfig, _facts: Facts) -> Verdict:
    """Pod UPDATE: kruise's ``sidecarsetMutatingPod`` with ``isUpdated``, which never changes the pod.

    kruise handles CREATE and UPDATE in one path (pkg/webhook/pod/mutating/sidecarset.go:48-127):
    on UPDATE (no subresource, an active pod) it decodes the old pod, lists the SidecarSets, keeps
    the unpaused ones matching the pod (namespaceSelector, selector), picks each one's revision
    (``getSuitableRevisionSidecarSet`` with UPDATE: the latest when the pod's recorded hash is the
    set's, else the ControllerRevision the new or the old pod recorded) and then asks the first
    set's control ``IsPodAvailabilityChanged(pod, oldPod)``. kruise's only control
    (``commonControl``, pkg/control/sidecarcontrol/sidecarset_control.go:211) answers false, so it
    returns there: no container, init container, volume, imagePullSecret or annotation is
    (re)injected, ``patchPodMetadata`` is not applied, and an in-place sidecar upgrade the
    SidecarSet worker writes keeps its image. (Past that return, ``buildSidecars(isUpdated=true)``
    would skip init containers, pull secrets and ``resourcesPolicy``, and ``NeedToInjectInUpdatedPod``
    also answers false: nothing there either.) kruise registers ``mpod.kb.io`` for CREATE only
    (config/webhook/manifests.yaml), as the chart does; this route answers a registration that
    adds UPDATE (a user's, or one copied from an older chart) with kruise's answer instead of
    refusing every pod update. The reads kruise makes before its answer can refuse on an error;
    Flotilla's answer does not depend on them and makes none (fails open). What kruise refuses
    without any read, a review without the old pod, is refused with its decoder's message.
    """
    pod = request.object
    if pod is None:
        return denied(400, "pod UPDATE without request.object")
    if request.sub_resource or not pod_active(pod):
        return allowed()
    if request.old_object is None:  # kruise: Decoder.Decode of an empty OldObject, Errored(500)
        return denied(500, "there is no content to decode")
    return allowed()


POD_CREATE: RouteKey = ("", "Pod", "CREATE")
POD_UPDATE: RouteKey = ("", "Pod", "UPDATE")
INJECTION = Route(inject_sidecars, gather_injection)
ON_UPDATE = Route(keep_on_update)
VALIDATING: Mapping[RouteKey, Route] = {
    ("apps.kruise.io", "SidecarSet", operation): Route(validate_sidecarset, gather_others)
    for operation in ("CREATE", "UPDATE")
}
