"""Container launch priority in in-place updates: which containers a batch updates, which wait.

kruise's admission webhook gives each container of a pod with launch priorities a
``KRUISE_CONTAINER_BARRIER`` env read from the ``<pod>-barrier`` ConfigMap key ``p_<priority>``.
An in-place update honours that order (``defaultPatchUpdateSpecToPod``): a batch updates the
changed containers without a priority plus those of the highest priority among the changed, and
every container whose env reads a label / annotation key a batch container's change writes
(``addMetadataSharedContainersToUpdate``, to a fixed point); the rest wait in the state's
``nextContainerImages`` / ``nextContainerRefMetadata``, behind ``preCheckBeforeNext``: the
batch's containers must be Ready (``doPreCheckBeforeNext``) before the next batch is sent. A
container that never becomes Ready (a crash loop) holds the rest, as kruise's does.

``update_priority`` reads the priority (``launchpriority``, shared with the webhook and the
barrier worker), ``batch_containers`` picks a batch and ``pre_check_passed`` is the pre-check.
Pure; called by ``inplace``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workers.podmechanics.kube_json import JsonObject, objects, strings, text
from workers.podmechanics.launchpriority import BarrierEnvError, container_priority

RefMetadata = Mapping[str, Mapping[str, Mapping[str, str]]]
"""Per container, ``{"labels": {...}, "annotations": {...}}`` its env reads and the update writes."""


def update_priority(container: JsonObject) -> int | None:
    """The container's launch priority for an in-place batch (``launchpriority.container_priority``,
    kruise's ``GetContainerPriority``), None without one. A barrier env kruise would panic on (no
    ``configMapKeyRef``, a key shorter than ``p_``) reads as none here: the update goes on rather
    than stopping at a pod the webhook did not write."""
    try:
        return container_priority(container)
    except BarrierEnvError:
        return None


def batch_containers(
    containers: Sequence[JsonObject], images: Mapping[str, str], refs: RefMetadata
) -> tuple[str, ...]:
    """The names (sorted) of the containers the next in-place batch updates.

    ``containers``: the pod's ``spec.containers``; ``images`` / ``refs``: the changes still to
    apply. The changed containers without priority, those of the highest priority among the
    changed, and every container whose env-from-metadata change shares a label / annotation key
    with one already chosen."""
    chosen: set[str] = set()
    highest: int | None = None
    top: list[str] = []
    for container in containers:
        name = text(container, "name")
        if name not in images and name not in refs:
            continue
        priority = update_priority(container)
        if priority is None:
            chosen.add(name)
        elif highest is None or priority > highest:
            highest, top = priority, [name]
        elif priority == highest:
            top.append(name)
    chosen.update(top)
    _add_metadata_sharers(chosen, refs)
    return tuple(sorted(chosen))


def _add_metadata_sharers(chosen: set[str], refs: RefMetadata) -> None:
    """Add to ``chosen`` each container whose metadata change writes a key a chosen one's does
    (a label key shared by two containers changes once, for both)."""
    keys: dict[str, set[str]] = {"labels": set(), "annotations": set()}
    new = set(chosen)
    while new:
        for name in new:
            for source, found in keys.items():
                found.update(refs.get(name, {}).get(source, {}))
        new = set()
        for name, meta in refs.items():
            if name in chosen:
                continue
            if any(keys[source] & set(meta.get(source, {})) for source in keys):
                chosen.add(name)
                new.add(name)


def pre_check_passed(pod: JsonObject, state: JsonObject) -> bool:
    """Every container ``preCheckBeforeNext.containersRequiredReady`` names is Ready in the pod's
    status (``doPreCheckBeforeNext``; no pre-check passes)."""
    ready = {
        text(status, "name"): status.get("ready") is True
        for status in objects(pod, "status", "containerStatuses")
    }
    return all(
        ready.get(name, False) for name in strings(state, "preCheckBeforeNext", "containersRequiredReady")
    )
