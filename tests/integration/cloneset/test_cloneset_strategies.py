"""CloneSet update strategies on the real control plane: paused, priority, scatter, revision history.

Each test rolls a template change out over kwok pods (in place, one pod at a time) and checks
what a kruise user would see: which pods reach the new revision, in which order (a real watch
on the pods records it), and which ControllerRevisions remain.
"""

from __future__ import annotations

from typing import Any

from flotilla.runtime.kube import PODS, JsonObject
from tests.integration.cloneset.conftest import PodWatch, Stack, watching_pods
from tests.integration.cloneset.test_cloneset_stack import (
    cloneset,
    eventually,
    manifest,
    patch_spec,
    pods,
    status_is,
)
from workers.cloneset.lowering import CLONESETS, CONTROLLER_REVISIONS

REVISION = "controller-revision-hash"


def _image(tag: int) -> JsonObject:
    return {"template": {"spec": {"containers": [{"name": "app", "image": f"nginx:{tag}"}]}}}


async def _create(stack: Stack, replicas: int, strategy: dict[str, Any], **spec: Any) -> str:
    """Create the CloneSet, wait until all pods are ready; its first revision."""
    body = manifest(stack.namespace, replicas, strategy=strategy)
    body["spec"].update(spec)
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(
        lambda: status_is(stack, replicas=replicas, readyReplicas=replicas, updatedReplicas=replicas),
        90,
        f"{replicas} ready",
    )
    return str((await cloneset(stack))["status"]["updateRevision"])


async def _new_revision(stack: Stack, generation: int, previous: str) -> str:
    """Wait until the worker saw spec generation ``generation``; its update revision (not ``previous``)."""
    await eventually(lambda: status_is(stack, observedGeneration=generation), 60, f"generation {generation}")
    revision = str((await cloneset(stack))["status"]["updateRevision"])
    assert revision != previous
    return revision


async def _label(stack: Stack, name: str, labels: dict[str, str]) -> None:
    await stack.api.patch(PODS.path(stack.namespace, name), {"metadata": {"labels": labels}}, "merge")


def _plain_update_order(current: list[JsonObject]) -> list[str]:
    """The update order of ready pods without priority or scatter (kruise ``ActivePods``): Ready
    since later first, then created later first, then by name. The API's second-precision times
    are what the planner reads too, so ties resolve the same way."""

    def ready_since(pod: JsonObject) -> str:
        conditions = pod["status"].get("conditions") or []
        return str(next(c["lastTransitionTime"] for c in conditions if c["type"] == "Ready"))

    by_name = sorted(current, key=lambda p: str(p["metadata"]["name"]))
    ordered = sorted(
        by_name, key=lambda p: (ready_since(p), p["metadata"]["creationTimestamp"]), reverse=True
    )
    return [p["metadata"]["name"] for p in ordered]


def _order_reaching(watch: PodWatch, revision: str) -> list[str]:
    """Pods in the order they first carried ``revision`` (from the watch events)."""
    order: list[str] = []
    for _, pod in watch.events:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("labels", {}).get(REVISION) == revision and name not in order:
            order.append(name)
    return order


async def test_paused_holds_the_rollout_but_not_scaling(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1, "paused": True}
    first = await _create(stack, 2, strategy)
    originals = {p["metadata"]["name"]: p["metadata"]["uid"] for p in await pods(stack)}
    async with watching_pods(stack) as watch:
        await patch_spec(stack, _image(2))
        second = await _new_revision(stack, 2, first)
        assert await status_is(stack, updatedReplicas=0, currentRevision=first)
        # Scaling goes on while paused. Creating the pod, its readiness and the status it shows
        # take several more passes after the one that saw the new template: none may update a pod.
        await patch_spec(stack, {"replicas": 3})
        await eventually(
            lambda: status_is(stack, observedGeneration=3, replicas=3, readyReplicas=3),
            60,
            "scaled to 3 while paused",
        )
        current = {p["metadata"]["name"]: p for p in await pods(stack)}
        [added] = set(current) - set(originals)
        assert current[added]["metadata"]["labels"][REVISION] == second  # as kruise: new pods are new
        assert await status_is(stack, updatedReplicas=1, currentRevision=first, updateRevision=second)
        for name in originals:
            assert current[name]["metadata"]["labels"][REVISION] == first
            assert current[name]["spec"]["containers"][0]["image"] == "nginx:1"
        touched = [name for name in _order_reaching(watch, second) if name in originals]
        assert touched == [], f"paused, yet {touched} reached the new revision"

    await patch_spec(stack, {"updateStrategy": {"paused": False}})
    await eventually(
        lambda: status_is(
            stack, updatedReplicas=3, updatedReadyReplicas=3, readyReplicas=3, currentRevision=second
        ),
        90,
        "rollout completed once unpaused",
    )
    after = {p["metadata"]["name"]: p for p in await pods(stack)}
    assert {n: after[n]["metadata"]["uid"] for n in originals} == originals  # updated in place
    assert {p["spec"]["containers"][0]["image"] for p in after.values()} == {"nginx:2"}


async def _rollout_order(
    stack: Stack, strategy: dict[str, Any], labels: dict[str, dict[str, str]]
) -> list[str]:
    """4 ready pods; label them (in the plain update order, the pods get ``labels`` in turn); change
    the image with ``partition: 2``; the aliases of the pods in the order they reached the new
    revision. Without a priority strategy that would be the first two aliases."""
    first = await _create(stack, 4, strategy)
    names = _plain_update_order(await pods(stack))
    for name, extra in zip(names, labels.values(), strict=True):
        await _label(stack, name, extra)
    aliases = dict(zip(names, labels, strict=True))
    async with watching_pods(stack) as watch:
        await patch_spec(stack, _image(2))
        second = await _new_revision(stack, 2, first)
        await eventually(
            lambda: status_is(stack, updatedReplicas=2, updatedReadyReplicas=2, readyReplicas=4),
            90,
            "2 of 4 updated",
        )
        order = _order_reaching(watch, second)
    at_new = sorted(
        p["metadata"]["name"] for p in await pods(stack) if p["metadata"]["labels"][REVISION] == second
    )
    assert sorted(order) == at_new
    return [aliases[name] for name in order]


def _two_of_four_in_place(priority: dict[str, Any]) -> dict[str, Any]:
    """In place, one pod at a time, two of the four pods kept at the old revision."""
    return {"type": "InPlaceIfPossible", "maxUnavailable": 1, "partition": 2, "priorityStrategy": priority}


async def test_weight_priority_updates_the_heaviest_pods_first(cloneset_stack: Stack) -> None:
    priority = {
        "weightPriority": [
            {"weight": 50, "matchSelector": {"matchLabels": {"example.com/tier": "canary"}}},
            {"weight": 30, "matchSelector": {"matchLabels": {"example.com/zone": "a"}}},
        ]
    }
    # weights: light 0, zone-a 30, canary 50, canary+zone-a 80
    labels = {
        "light": {"example.com/zone": "b"},
        "zone-a": {"example.com/zone": "a"},
        "canary": {"example.com/tier": "canary", "example.com/zone": "b"},
        "both": {"example.com/tier": "canary", "example.com/zone": "a"},
    }
    order = await _rollout_order(cloneset_stack, _two_of_four_in_place(priority), labels)
    assert order == ["both", "canary"]


async def test_order_priority_updates_by_key_then_larger_suffix(cloneset_stack: Stack) -> None:
    priority = {"orderPriority": [{"orderedKey": "example.com/first"}, {"orderedKey": "example.com/then"}]}
    # every pod carries a key (kruise sorts pods without any of the keys first)
    labels = {
        "then-3": {"example.com/then": "batch-3"},
        "then-7": {"example.com/then": "batch-7"},
        "then-12": {"example.com/then": "batch-12"},
        "first-1": {"example.com/first": "x-1"},
    }
    order = await _rollout_order(cloneset_stack, _two_of_four_in_place(priority), labels)
    assert order == ["first-1", "then-12"]


async def test_scatter_spreads_the_labelled_pods_over_the_update_order(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    scatter = [{"key": "example.com/rack", "value": "r1"}]
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1, "scatterStrategy": scatter}
    first = await _create(stack, 7, strategy)
    names = _plain_update_order(await pods(stack))
    # 3 of 7 pods on rack r1. The update order is recomputed on every pass (as kruise does), so
    # what scatterSort decides is the next pod while at least 2 labelled and 2 unlabelled pods
    # wait: r1 first (groups of 1 labelled + 2 unlabelled, the last labelled pod kept last), then
    # 2 unlabelled, then the second r1 pod at position 4. With one r1 pod left, scatterSort
    # leaves the plain order alone, so the third comes somewhere after position 4.
    # The r1 pods are at positions 2, 3 and 5 of the plain order (what an update without scatter
    # would follow).
    racked = {names[1], names[2], names[4]}
    for name in names:
        await _label(stack, name, {"example.com/rack": "r1" if name in racked else "r2"})
    async with watching_pods(stack) as watch:
        await patch_spec(stack, _image(2))
        second = await _new_revision(stack, 2, first)
        await eventually(
            lambda: status_is(stack, updatedReplicas=7, updatedReadyReplicas=7, currentRevision=second),
            120,
            "all 7 updated",
        )
        order = _order_reaching(watch, second)
    assert sorted(order) == sorted(names)
    positions = [i + 1 for i, name in enumerate(order) if name in racked]
    assert positions[:2] == [1, 4], order
    assert positions[2] > 4, order


async def test_revision_history_limit_keeps_the_newest_and_the_revisions_in_use(
    cloneset_stack: Stack,
) -> None:
    stack = cloneset_stack
    strategy = {"type": "InPlaceIfPossible", "maxUnavailable": 1, "partition": 1}
    r1 = await _create(stack, 2, strategy, revisionHistoryLimit=1)
    await patch_spec(stack, _image(2))
    r2 = await _new_revision(stack, 2, r1)
    await eventually(lambda: status_is(stack, updatedReplicas=1, updatedReadyReplicas=1), 60, "1 pod at r2")
    # freeze the pods: one stays at r1 (also currentRevision), one at r2
    await patch_spec(stack, {"updateStrategy": {"partition": 2}})
    created = [r1, r2]
    for generation, tag in enumerate(range(3, 7), start=4):
        await patch_spec(stack, _image(tag))
        created.append(await _new_revision(stack, generation, created[-1]))
    r5, r6 = created[-2:]

    async def remaining() -> set[str]:
        listing = await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace))
        return {r["metadata"]["name"] for r in listing.get("items", [])}

    # in use: r1 (a pod, currentRevision), r2 (a pod), r6 (updateRevision); history: r5 only
    expected = {r1, r2, r5, r6}

    async def truncated() -> bool:
        return await remaining() == expected

    try:
        await eventually(truncated, 30, "history truncated to the revisions in use + 1")
    except AssertionError:
        found = await remaining()
        raise AssertionError(f"revisions {found}, expected {expected}; created {created}") from None
    revisions = {p["metadata"]["labels"][REVISION] for p in await pods(stack)}
    assert revisions == {r1, r2}
    assert await status_is(stack, currentRevision=r1, updateRevision=r6, updatedReplicas=0)
    listing = await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace))
    numbers = {r["metadata"]["name"]: r["revision"] for r in listing["items"]}
    assert numbers == {r1: 1, r2: 2, r5: 5, r6: 6}
