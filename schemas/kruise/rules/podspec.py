"""The core/v1 defaults kruise writes into a workload's pod template (``defaults.SetDefaultPodSpec``).

The API server defaults a Pod when it is created, but not a pod template inside a custom resource:
kruise's mutating webhook does that itself, so the stored template (and so the revision hash and
what ``kubectl get -o yaml`` shows) carries ``dnsPolicy``, ``restartPolicy``, ``schedulerName``,
``securityContext: {}``, ``terminationGracePeriodSeconds``, each container's
``terminationMessagePath``/``Policy`` and ``imagePullPolicy`` (``Always`` for containers, for in-place
updates; by tag for init containers), port protocols, probe and HTTP-get defaults, field-ref API
versions and volume modes. Go's encoding of the template is kept too (``creationTimestamp: null``,
``resources: {}``). Quantities are left as written (kruise rounds sub-milli values up to milli).
:func:`pruned_empty` is the comparison kruise's ``DeepEqual`` of decoded objects amounts to. Pure.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

JsonDict = dict[str, Any]

_DIGEST = re.compile(r"@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


def image_tag(image: str) -> str:
    """The tag ``parsers.ParseImageName`` finds (``latest`` when there is neither tag nor digest)."""
    digest = _DIGEST.search(image)
    name = image[: digest.start()] if digest else image
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"


def _set(obj: JsonDict, key: str, value: object) -> None:
    if obj.get(key) in (None, ""):
        obj[key] = value


def _probe(probe: object) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(key):
            probe[key] = value
    _http_get(probe.get("httpGet"))


def _http_get(action: object) -> None:
    if isinstance(action, dict):
        _set(action, "path", "/")
        _set(action, "scheme", "HTTP")


def _field_ref(ref: object) -> None:
    if isinstance(ref, dict):
        _set(ref, "apiVersion", "v1")


def default_container(container: JsonDict, *, pull_always: bool) -> None:
    """``SetDefaults_Container`` and the per-field defaulters kruise calls for one container."""
    if pull_always:
        _set(container, "imagePullPolicy", "Always")
    if not container.get("imagePullPolicy"):
        tag = image_tag(str(container.get("image") or ""))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    _set(container, "terminationMessagePath", "/dev/termination-log")
    _set(container, "terminationMessagePolicy", "File")
    for port in container.get("ports") or ():
        if isinstance(port, dict):
            _set(port, "protocol", "TCP")
    for env in container.get("env") or ():
        if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
            _field_ref(env["valueFrom"].get("fieldRef"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(container.get(key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for key in ("postStart", "preStop"):
            handler = lifecycle.get(key)
            if isinstance(handler, dict):
                _http_get(handler.get("httpGet"))
    if container.get("resources") is None:
        container["resources"] = {}  # Go always writes the struct


_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)


def default_volumes(volumes: object) -> None:
    """kruise ``SetDefaultPodVolumes``."""
    for volume in volumes if isinstance(volumes, list) else ():
        if not isinstance(volume, dict):
            continue
        if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
            volume["emptyDir"] = {}
        if isinstance(volume.get("hostPath"), dict):
            volume["hostPath"].setdefault("type", "")
        for source, mode in (("secret", 420), ("downwardAPI", 420), ("configMap", 420), ("projected", 420)):
            if isinstance(volume.get(source), dict) and volume[source].get("defaultMode") is None:
                volume[source]["defaultMode"] = mode
        if isinstance(volume.get("downwardAPI"), dict):
            for item in volume["downwardAPI"].get("items") or ():
                if isinstance(item, dict):
                    _field_ref(item.get("fieldRef"))
        if isinstance(volume.get("projected"), dict):
            for projection in volume["projected"].get("sources") or ():
                if not isinstance(projection, dict):
                    continue
                if isinstance(projection.get("downwardAPI"), dict):
                    for item in projection["downwardAPI"].get("items") or ():
                        if isinstance(item, dict):
                            _field_ref(item.get("fieldRef"))
                token = projection.get("serviceAccountToken")
                if isinstance(token, dict) and token.get("expirationSeconds") is None:
                    token["expirationSeconds"] = 3600


def default_pod_spec(spec: JsonDict) -> None:
    """kruise ``SetDefaultPodSpec`` (in place)."""
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    _set(spec, "schedulerName", "default-scheduler")
    default_volumes(spec.get("volumes"))
    for container in spec.get("initContainers") or ():
        if isinstance(container, dict):
            default_container(container, pull_always=False)
    for container in spec.get("containers") or ():
        if isinstance(container, dict):
            default_container(container, pull_always=True)
    for container in spec.get("ephemeralContainers") or ():
        if not isinstance(container, dict):
            continue
        for port in container.get("ports") or ():
            if isinstance(port, dict):
                _set(port, "protocol", "TCP")
        for env in container.get("env") or ():
            if isinstance(env, dict) and isinstance(env.get("valueFrom"), dict):
                _field_ref(env["valueFrom"].get("fieldRef"))
        for key in ("livenessProbe", "readinessProbe", "startupProbe"):
            _probe(container.get(key))


def default_pod_template(template: Mapping[str, Any]) -> JsonDict:
    """A defaulted copy of a PodTemplateSpec, as kruise's webhook stores it."""
    out: JsonDict = copy.deepcopy(dict(template))
    metadata = out.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata.setdefault("creationTimestamp", None)
    spec = out.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)
    return out


def pruned_empty(value: object) -> object:
    """``value`` without nulls, empty maps and empty lists (recursively): what Go's decoding into
    structs and ``DeepEqual``/``omitempty`` treat as the same. ``None`` when nothing is left."""
    if isinstance(value, Mapping):
        out = {k: v for k, v in ((k, pruned_empty(v)) for k, v in value.items()) if v is not None}
        return out or None
    if isinstance(value, list | tuple):
        items = [pruned_empty(v) for v in value]
        return items or None
    return value
