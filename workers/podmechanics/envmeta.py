"""Env from pod metadata in in-place updates (kruise ``InPlaceUpdateEnvFromMetadata``, ``containermeta``).

A container env ``valueFrom.fieldRef`` on ``metadata.labels['k']`` / ``metadata.annotations['k']``
reads the pod's metadata when the container starts, so changing such a label in place only takes
effect once the container restarts. kruise records such a change per container
(``containerRefMetadata``, ``updateEnvFromMetadata`` in the in-place update state) and counts the
update done only when kruise-daemon reports, in the pod annotation
``apps.kruise.io/runtime-containers-meta``, every container running (same containerID as the pod
status) with the env values the pod's metadata now gives (``extractedEnvFromMetadataHash``).

``references`` finds what a container reads; ``expected_env_hash`` is kruise's
``EnvFromMetadataHasher.GetExpectHash`` (FNV-32a over Go's ``%v`` of ``dump.ForHash`` of the
JSON of the sorted env list) and ``current_env_hash`` its ``GetCurrentHash`` (the same hash of
the values a running container's environment holds, as the node agent reads them);
``env_restarted`` is ``checkAllContainersHashConsistent`` for that hash and
``plain_hash_consistent`` for ``plainHash``, the kubelet's ``HashContainer`` (name and image, the
``io.kubernetes.container.hash`` label of the runtime's container), which tells an in-place
update done even where the imageID cannot (two tags of one digest). The one implementation of
these hashes: the CloneSet / Advanced StatefulSet planners (through ``inplace``) and the node
agent's ``containermeta`` both call it. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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


def has_metadata_env(container: JsonObject) -> bool:
    """Whether some env of ``container`` reads a pod label or annotation."""
    return bool(_metadata_refs(container))


def _deep_hash(encoded: bytes) -> int:
    """FNV-32a of ``%v`` of ``dump.ForHash`` of JSON bytes (``hashutil.DeepHashObject``)."""
    return fnv32a(("([]uint8)[" + " ".join(str(b) for b in encoded) + "]").encode())


def _hash_envs(values: list[tuple[str, str]]) -> int:
    """kruise ``hashEnvs`` of (name, value) pairs: Go's JSON of ``[]EnvVar`` sorted by name
    (an empty value is omitted, no env at all is ``null``)."""
    envs = [{"name": name, "value": value} if value else {"name": name} for name, value in values]
    envs.sort(key=lambda e: e["name"])
    return _deep_hash(go_json(envs or None))


def expected_env_hash(container: JsonObject, pod_metadata: JsonObject) -> int:
    """The ``extractedEnvFromMetadataHash`` a container started with the pod's current metadata has."""
    values = {
        "labels": labels_of({"metadata": pod_metadata}),
        "annotations": annotations_of({"metadata": pod_metadata}),
    }
    return _hash_envs(
        [(name, values[source].get(key, "")) for name, source, key in _metadata_refs(container)]
    )


def current_env_hash(container: JsonObject, environment: Mapping[str, str]) -> int:
    """The ``extractedEnvFromMetadataHash`` of a running container of spec ``container`` whose
    environment (its ``env`` output) is ``environment``: the values it started with."""
    return _hash_envs([(name, environment.get(name, "")) for name, _, _ in _metadata_refs(container)])


def kubelet_hash(container: JsonObject) -> int:
    """The kubelet's ``HashContainer`` (v1.31+): name and image only; the runtime's containers
    carry it hex-encoded in the ``io.kubernetes.container.hash`` annotation."""
    picked = {"name": text(container, "name"), "image": text(container, "image")}
    return _deep_hash(go_json(picked, sort_keys=True))


def meta_set_of(pod: JsonObject) -> Mapping[str, object] | None:
    """The parsed ``apps.kruise.io/runtime-containers-meta`` annotation, if any is readable."""
    raw = mapping(pod, "metadata", "annotations").get(RUNTIME_CONTAINERS_META_ANNOTATION)
    try:
        meta_set = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        return None
    return meta_set if isinstance(meta_set, Mapping) else None


def _hashes_consistent(pod: JsonObject, hash_key: str, expected: Callable[[JsonObject], int]) -> bool:
    """``checkAllContainersHashConsistent``: every container of the spec has a status and a
    reported meta of the same containerID whose ``hashes[hash_key]`` is ``expected(container)``."""
    meta_set = meta_set_of(pod)
    if meta_set is None:
        return False
    runtime = {text(m, "name"): m for m in objects(meta_set, "containers")}
    statuses = {text(s, "name"): s for s in objects(pod, "status", "containerStatuses")}
    for container in objects(pod, "spec", "containers"):
        name = text(container, "name")
        status, meta = statuses.get(name), runtime.get(name)
        if status is None or meta is None:
            return False
        if text(meta, "containerID") != text(status, "containerID"):
            return False
        if mapping(meta, "hashes").get(hash_key, 0) != expected(container):
            return False
    return True


def env_restarted(pod: JsonObject) -> bool:
    """Every container runs with the env its pod's metadata gives, as kruise-daemon reports it."""
    metadata = mapping(pod, "metadata")
    return _hashes_consistent(
        pod, "extractedEnvFromMetadataHash", lambda container: expected_env_hash(container, metadata)
    )


def plain_hash_consistent(pod: JsonObject) -> bool:
    """Every container runs its spec (the kubelet's hash of name + image), as reported."""
    return _hashes_consistent(pod, "plainHash", kubelet_hash)
