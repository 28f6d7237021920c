"""kruise-daemon's containermeta, planned: what the node reports of a Pod's running containers,
and which of them must restart for an env-from-metadata change. Pure.

Follows ``pkg/daemon/containermeta`` (kruise v1.9.1). :func:`wanted` is its ``eventFilter``
(a Pod owned by an ``apps.kruise.io`` controller or injected by a SidecarSet, whose containers
changed or whose reported env hashes no longer match its metadata). :func:`plan_meta` is
``manageContainerMetaSet`` + ``reportContainerMetaSet``: per container of the Pod's status, the
newest runtime container of that name; its meta kept from the last report when the containerID
is the same, else new (name, containerID, the kubelet's restart count and spec hash
``plainHash``); with ``InPlaceUpdateEnvFromMetadata``, a running container with no env hash yet
gets the hash of the values its environment holds (``env_reads`` says whose environment the
shell must read first: only containers whose env reads pod metadata, as kruise's lazy getter);
while the Pod's ``InPlaceUpdateReady`` is False, a container whose env hash differs from the one
the Pod's metadata now gives is restarted (the kubelet starts it again with the new values).
The annotation is written only when the report changed.

The hashes are :mod:`workers.podmechanics.envmeta`'s, the code the CloneSet / Advanced
StatefulSet planners check the report with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from nodeagent.crr.daemon import RuntimeContainer
from workers.podmechanics.envmeta import (
    RUNTIME_CONTAINERS_META_ANNOTATION,
    current_env_hash,
    expected_env_hash,
    has_metadata_env,
    meta_set_of,
)
from workers.podmechanics.gohash import go_escape
from workers.podmechanics.kube_json import JsonDict, JsonObject, mapping, objects, text

KRUISE_GROUP = "apps.kruise.io"
#: A SidecarSet-injected Pod (kruise ``sidecarcontrol.SidecarSetHashAnnotation``).
SIDECARSET_HASH_ANNOTATION = "kruise.io/sidecarset-hash"
INPLACE_UPDATE_READY = "InPlaceUpdateReady"
#: kruise re-queues a Pod whose container environment could not be read after 3 s.
ENV_RETRY_SECONDS = 3.0


@dataclass(frozen=True)
class MetaPlan:
    """One pass on a Pod: the annotation to write (None: the report is unchanged), the
    containers to restart (``<runtime>://<id>``), and when to look again if an env read failed."""

    annotation: str | None
    restart: tuple[str, ...] = ()
    retry_after: float | None = None


def _owned_or_injected(pod: JsonObject) -> bool:
    for owner in objects(pod, "metadata", "ownerReferences"):
        if owner.get("controller") is True:
            group = text(owner, "apiVersion").rpartition("/")[0]
            if group == KRUISE_GROUP:
                return True
            break
    return SIDECARSET_HASH_ANNOTATION in mapping(pod, "metadata", "annotations")


def _reported(meta_set: Mapping[str, object] | None) -> list[JsonObject]:
    return list(objects(meta_set, "containers")) if meta_set is not None else []


def _env_hash(meta: JsonObject) -> int:
    value = mapping(meta, "hashes").get("extractedEnvFromMetadataHash", 0)
    return value if isinstance(value, int) else 0


def wanted(old: JsonObject | None, new: JsonObject, *, env_from_metadata: bool) -> bool:
    """kruise's ``eventFilter``: whether a change of the Pod (``old`` None: first seen) needs a pass."""
    if not _owned_or_injected(new):
        return False
    specs = list(objects(new, "spec", "containers"))
    if old is not None and len(list(objects(old, "spec", "containers"))) != len(specs):
        return True
    meta_set = meta_set_of(new)
    reported = _reported(meta_set)
    statuses = list(objects(new, "status", "containerStatuses"))
    old_specs = list(objects(old, "spec", "containers")) if old is not None else []
    for index, status in enumerate(statuses):
        if not text(status, "containerID"):
            continue
        if meta_set is None or len(reported) != len(statuses):
            return True
        if text(reported[index], "containerID") != text(status, "containerID"):
            return True
        if env_from_metadata and index < len(specs):
            expected = expected_env_hash(specs[index], mapping(new, "metadata"))
            if expected != _env_hash(reported[index]):
                return True
            if (
                old is not None
                and index < len(old_specs)
                and expected != expected_env_hash(old_specs[index], mapping(old, "metadata"))
            ):
                return True
    return False


def should_sync(pod: JsonObject) -> bool:
    """kruise enqueues (and syncs) only live Pods with container statuses."""
    return not mapping(pod, "metadata").get("deletionTimestamp") and bool(
        list(objects(pod, "status", "containerStatuses"))
    )


def _latest(containers: Sequence[RuntimeContainer], name: str) -> RuntimeContainer | None:
    """The kubelet's ``FindContainerStatusByName``: the newest instance of that name."""
    named = [c for c in containers if c.name == name]
    return max(named, key=lambda c: c.created_at) if named else None


def _spec(pod: JsonObject, name: str) -> JsonObject | None:
    return next((c for c in objects(pod, "spec", "containers") if text(c, "name") == name), None)


def _current(
    pod: JsonObject, containers: Sequence[RuntimeContainer]
) -> list[tuple[RuntimeContainer, JsonObject, JsonObject | None]]:
    """(runtime container, spec, meta of the last report for that containerID) per status."""
    reported = _reported(meta_set_of(pod))
    out = []
    for status in objects(pod, "status", "containerStatuses"):
        name = text(status, "name")
        runtime, spec = _latest(containers, name), _spec(pod, name)
        if runtime is None or spec is None:
            continue
        kept = [m for m in reported if text(m, "containerID") == runtime.container_id]
        out.append((runtime, spec, kept[-1] if kept else None))
    return out


def env_reads(
    pod: JsonObject, containers: Sequence[RuntimeContainer], *, env_from_metadata: bool
) -> list[str]:
    """The containers (``<runtime>://<id>``) whose environment the pass needs: running, reading
    pod metadata, with no env hash reported yet."""
    if not env_from_metadata:
        return []
    return [
        runtime.container_id
        for runtime, spec, kept in _current(pod, containers)
        if runtime.state == "running" and (kept is None or not _env_hash(kept)) and has_metadata_env(spec)
    ]


def _in_place_updating(pod: JsonObject) -> bool:
    return any(
        text(c, "type") == INPLACE_UPDATE_READY and text(c, "status") == "False"
        for c in objects(pod, "status", "conditions")
    )


def _entry(name: str, container_id: str, restarts: object, plain_hash: object, env_hash: int) -> JsonDict:
    """A report entry in kruise's field order (``extractedEnvFromMetadataHash`` omitted when 0)."""
    hashes: JsonDict = {"plainHash": plain_hash}
    if env_hash:
        hashes["extractedEnvFromMetadataHash"] = env_hash
    return {"name": name, "containerID": container_id, "restartCount": restarts, "hashes": hashes}


def _normal(meta: JsonObject) -> JsonDict:
    return _entry(
        text(meta, "name"),
        text(meta, "containerID"),
        meta.get("restartCount", 0),
        mapping(meta, "hashes").get("plainHash", 0),
        _env_hash(meta),
    )


def plan_meta(
    pod: JsonObject,
    containers: Sequence[RuntimeContainer],
    environments: Mapping[str, Mapping[str, str] | None],
    *,
    env_from_metadata: bool,
) -> MetaPlan:
    """The report and restarts for the Pod, given the runtime's containers and the environments
    read for :func:`env_reads` (by containerID; None: the read failed)."""
    entries: list[JsonDict] = []
    restart: list[str] = []
    retry = False
    metadata = mapping(pod, "metadata")
    for runtime, spec, kept in _current(pod, containers):
        if kept is not None:
            name, restarts, plain_hash = (
                text(kept, "name"),
                kept.get("restartCount", 0),
                mapping(kept, "hashes").get("plainHash", 0),
            )
            env_hash = _env_hash(kept)
        else:
            name, restarts, plain_hash, env_hash = runtime.name, runtime.restart_count, runtime.plain_hash, 0
        if env_from_metadata:
            if not env_hash and runtime.state == "running":
                environment: Mapping[str, str] | None = {}
                if has_metadata_env(spec):
                    environment = environments.get(runtime.container_id)
                if environment is None:
                    retry = True
                else:
                    env_hash = current_env_hash(spec, environment)
            if _in_place_updating(pod) and env_hash and env_hash != expected_env_hash(spec, metadata):
                restart.append(runtime.container_id)
        entries.append(_entry(name, runtime.container_id, restarts, plain_hash, env_hash))
    old_set = meta_set_of(pod)
    unchanged = old_set is not None and [_normal(m) for m in _reported(old_set)] == entries
    annotation = None if unchanged else go_escape(orjson.dumps({"containers": entries})).decode()
    return MetaPlan(annotation, tuple(restart), ENV_RETRY_SECONDS if retry else None)


def report_patch(annotation: str) -> JsonDict:
    """The strategic merge patch on ``pods/status`` that reports the set (as kruise-daemon)."""
    return {"metadata": {"annotations": {RUNTIME_CONTAINERS_META_ANNOTATION: annotation}}}


def parse_environment(output: bytes) -> dict[str, str]:
    """``env``'s output as a map (kruise's ``wrapEnvGetter``: trimmed lines, split at the first ``=``)."""
    environment: dict[str, str] = {}
    for line in output.decode(errors="replace").strip().split("\n"):
        name, sep, value = line.strip().partition("=")
        if sep:
            environment[name] = value
    return environment
