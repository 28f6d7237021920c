"""Env from pod metadata in in-place updates (kruise ``InPlaceUpdateEnvFromMetadata``, ``containermeta``).

A container env ``valueFrom.fieldRef`` on ``metadata.labels['k']`` / ``metadata.annotations['k']``
reads the pod's metadata when the container starts, so changing such a label in place only takes
effect once the container restarts. kruise records such a change per container
(``containerRefMetadata``, ``updateEnvFromMetadata`` in the in-place update state) and counts the
update done only when kruise-daemon reports, in the pod annotation
``apps.kruise.io/runtime-containers-meta``, every container running (same containerID as the pod
status) with the env values the pod's metadata now gives (``extractedEnvFromMetadataHash``).

``referenced_keys`` finds what a container reads; ``expected_env_hash`` is kruise's
``EnvFromMetadataHasher.GetExpectHash`` (FNV-32a over Go's ``%v`` of ``dump.ForHash`` of the
JSON of the sorted env list); ``env_restarted`` is ``checkAllContainersHashConsistent`` for that
hash. Pure; called by ``inplace``.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from workers.podmechanics.gohash import fnv32a, go_json
from workers.podmechanics.kube_json import JsonObject, annotations_of, labels_of, mapping, objects, text

RUNTIME_CONTAINERS_META_ANNOTATION = "apps.kruise.io/runtime-containers-meta"
#: SidecarSet's own version envs are never counted (kruise ``excludeEnvs``).
_EXCLUDED_ENVS = frozenset({"SIDECARSET_VERSION", "SIDECARSET_VERSION_ALT"})
_SOURCES = {"metadata.labels": "labels", "metadata.annotations": "annotations"}


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """``metadata.labels['k']`` -> (``metadata.labels``, ``k``) (``fieldpath.SplitMaybeSubscriptedPath``)."""
    if not field_path.endswith("']"):
        return None
    head, sep, key = field_path[: -len("']")].partition("['")
    if not sep or not head:
        return None
    return head, key


def _metadata_refs(container: JsonObject) -> list[tuple[str, str, str]]:
    """(env name, "labels" | "annotations", key) for each env the container takes from pod metadata."""
    refs = []
    for env in objects(container, "env"):
        name = text(env, "name")
        field_path = text(env, "valueFrom", "fieldRef", "fieldPath")
        if text(env, "value") or not field_path or name in _EXCLUDED_ENVS:
            continue
        split = _split_subscript(field_path)
        if split is not None and split[0] in _SOURCES:
            refs.append((name, _SOURCES[split[0]], split[1]))
    return refs


def references(container: JsonObject, source: str, key: str) -> bool:
    """Whether an env of ``container`` reads ``metadata.<source>[key]`` (``IsContainerReferenceToMeta``)."""
    return any(src == source and k == key for _, src, k in _metadata_refs(container))


def expected_env_hash(container: JsonObject, pod_metadata: JsonObject) -> int:
    """The ``extractedEnvFromMetadataHash`` a container started with the pod's current metadata has."""
    values = {
        "labels": labels_of({"metadata": pod_metadata}),
        "annotations": annotations_of({"metadata": pod_metadata}),
    }
    envs: list[dict[str, str]] = []
    for name, source, key in _metadata_refs(container):
        env = {"name": name}
        value = values[source].get(key, "")
        if value:
            env["value"] = value
        envs.append(env)
    envs.sort(key=lambda e: e["name"])
    encoded = go_json(envs or None)
    printed = "([]uint8)[" + " ".join(str(b) for b in encoded) + "]"
    return fnv32a(printed.encode())


def env_restarted(pod: JsonObject) -> bool:
    """Every container runs with the env its pod's metadata gives, as kruise-daemon reports it."""
    raw = mapping(pod, "metadata", "annotations").get(RUNTIME_CONTAINERS_META_ANNOTATION)
    try:
        meta_set = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        return False
    if not isinstance(meta_set, Mapping):
        return False
    runtime = {text(m, "name"): m for m in objects(meta_set, "containers")}
    statuses = {text(s, "name"): s for s in objects(pod, "status", "containerStatuses")}
    metadata = mapping(pod, "metadata")
    for container in objects(pod, "spec", "containers"):
        name = text(container, "name")
        status, meta = statuses.get(name), runtime.get(name)
        if status is None or meta is None:
            return False
        if text(meta, "containerID") != text(status, "containerID"):
            return False
        reported = mapping(meta, "hashes").get("extractedEnvFromMetadataHash", 0)
        if reported != expected_env_hash(container, metadata):
            return False
    return True
