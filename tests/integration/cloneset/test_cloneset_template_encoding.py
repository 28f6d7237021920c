"""The writes kubectl-kruise makes, on the real control plane: no pod is recreated, nothing refused.

``kubectl-kruise set image`` sends the whole container list with ``resources: {}``; ``kubectl-kruise
rollout undo`` writes a revision's template into ``spec.template``, ``"$patch": "replace"``
included. kruise compares encoded templates, where both change nothing beyond the image: the pods
are updated in place (InPlaceIfPossible, InPlaceOnly), no new revision appears for the undo. The
plugin itself is not built here (the kruise-tools module is not served by the proxy), so the
tests make the same writes (a JSON merge patch of the CloneSet, as the plugin sends for a CRD).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.cloneset.conftest import Stack, watching_pods
from tests.integration.cloneset.test_cloneset_stack import cloneset, eventually, manifest, pods, status_is
from workers.cloneset.lowering import CLONESETS, CONTROLLER_REVISIONS


async def _rolled_out(stack: Stack, strategy: dict[str, Any], replicas: int = 2) -> set[str]:
    await stack.api.create(
        CLONESETS.path(stack.namespace), manifest(stack.namespace, replicas, strategy=strategy)
    )
    await eventually(
        lambda: status_is(stack, readyReplicas=replicas, updatedReadyReplicas=replicas), 90, "ready"
    )
    return {p["metadata"]["uid"] for p in await pods(stack)}


async def _merge(stack: Stack, body: dict[str, Any]) -> None:
    await stack.api.patch(CLONESETS.path(stack.namespace, "web"), body, "merge")


async def _settled_in_place(stack: Stack, uids: set[str], image: str, generation: int) -> None:
    replicas = len(uids)
    await eventually(
        lambda: status_is(
            stack, observedGeneration=generation, updatedReadyReplicas=replicas, readyReplicas=replicas
        ),
        120,
        f"updated in place to {image}",
    )
    after = await pods(stack)
    assert {p["metadata"]["uid"] for p in after} == uids, "pods were recreated"
    assert {p["spec"]["containers"][0]["image"] for p in after} == {image}
    conditions = (await cloneset(stack))["status"].get("conditions") or []
    assert [c for c in conditions if c["type"] == "FailedUpdate" and c["status"] == "True"] == []


SET_IMAGE = {
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2", "resources": {}}]}}}
}


@pytest.mark.parametrize("kind", ["InPlaceIfPossible", "InPlaceOnly"])
async def test_set_image_with_empty_resources_updates_in_place(cloneset_stack: Stack, kind: str) -> None:
    stack = cloneset_stack
    uids = await _rolled_out(stack, {"type": kind, "maxUnavailable": 1})
    async with watching_pods(stack) as watch:
        await _merge(stack, SET_IMAGE)
        stored = (await cloneset(stack))["spec"]["template"]["spec"]["containers"][0]
        assert stored["resources"] == {}, "the API server keeps what the plugin sent"
        await _settled_in_place(stack, uids, "nginx:2", 2)
    created = {pod["metadata"]["uid"] for kind_, pod in watch.events if kind_ == "ADDED"}
    assert created == set(), "no pod is created for an image change"


async def test_rollout_undo_with_patch_marker_updates_in_place_without_a_new_revision(
    cloneset_stack: Stack,
) -> None:
    stack = cloneset_stack
    uids = await _rolled_out(stack, {"type": "InPlaceOnly", "maxUnavailable": 1})
    first = (await cloneset(stack))["status"]["updateRevision"]
    await _merge(stack, SET_IMAGE)
    await _settled_in_place(stack, uids, "nginx:2", 2)

    # kubectl-kruise rollout undo: spec.template becomes the first revision's recorded template
    revision = await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace, first))
    template = revision["data"]["spec"]["template"]
    assert template["$patch"] == "replace"
    await _merge(stack, {"spec": {"template": template}})
    assert (await cloneset(stack))["spec"]["template"]["$patch"] == "replace"

    await _settled_in_place(stack, uids, "nginx:1", 3)
    status = (await cloneset(stack))["status"]
    assert status["updateRevision"] == first, "the undo goes back to the first revision, no new one"
    listing = await stack.api.get(CONTROLLER_REVISIONS.path(stack.namespace))
    assert len(listing["items"]) == 2
