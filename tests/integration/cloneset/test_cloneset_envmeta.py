"""In-place change of a label a container env reads, on the real control plane.

kruise (``InPlaceUpdateEnvFromMetadata``) patches the label onto the pod, records
``updateEnvFromMetadata`` in the in-place update state and keeps the pod ``Updating`` (not
InPlaceUpdateReady) until kruise-daemon reports the container restarted with the new value
(annotation ``apps.kruise.io/runtime-containers-meta``). Environment limit: on kwok nothing
restarts a container for a metadata change and no kruise-daemon runs, so the pod stays Updating,
as it does under kruise-manager on the same control plane. The test then writes the report
kruise-daemon would write after the restart (hash computed by kruise's own Go code, see
tests/unit/cloneset/test_cloneset_envmeta.py) and checks that only then the update completes.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from flotilla.runtime.kube import PODS, JsonObject
from tests.integration.cloneset.conftest import Stack
from tests.integration.cloneset.test_cloneset_stack import eventually, manifest, patch_spec, pods, status_is
from workers.cloneset.lowering import CLONESETS

LIFECYCLE = "lifecycle.apps.kruise.io/state"
STATE = "apps.kruise.io/inplace-update-state"
ENV = {"name": "TEST_ENV", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['test-env']"}}}
#: kruise's extractedEnvFromMetadataHash of [{"name":"TEST_ENV","value":"bar"}] (Go, hashEnvs)
HASH_BAR = 3944769931


async def _the_pod(stack: Stack) -> JsonObject:
    [pod] = await pods(stack)
    return pod


async def test_env_from_label_change_waits_for_the_container_restart(cloneset_stack: Stack) -> None:
    stack = cloneset_stack
    body = manifest(stack.namespace, 1, strategy={"type": "InPlaceIfPossible"})
    body["spec"]["template"]["metadata"]["labels"]["test-env"] = "foo"
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [ENV]
    await stack.api.create(CLONESETS.path(stack.namespace), body)
    await eventually(lambda: status_is(stack, readyReplicas=1, availableReplicas=1), 90, "1 available")
    before = await _the_pod(stack)

    await patch_spec(stack, {"template": {"metadata": {"labels": {"test-env": "bar"}}}})
    await eventually(
        lambda: status_is(stack, observedGeneration=2, updatedReplicas=1), 30, "pod at the new revision"
    )
    seen: set[str] = set()
    until = time.monotonic() + 6
    while time.monotonic() < until:
        pod = await _the_pod(stack)
        seen.add(pod["metadata"]["labels"][LIFECYCLE])
        await asyncio.sleep(0.5)
    assert seen == {"Updating"}, f"lifecycle states seen without a container restart: {seen}"
    assert pod["metadata"]["uid"] == before["metadata"]["uid"], "updated in place, not recreated"
    assert pod["metadata"]["labels"]["test-env"] == "bar"
    state = orjson.loads(pod["metadata"]["annotations"][STATE])
    assert state["updateEnvFromMetadata"] is True
    assert state["containerBatchesRecord"][0]["containers"] == ["app"]
    [gate] = [c for c in pod["status"]["conditions"] if c["type"] == "InPlaceUpdateReady"]
    assert gate["status"] == "False"
    assert await status_is(stack, updatedReadyReplicas=0)

    # what kruise-daemon reports once the container runs again, with test-env=bar
    [status] = pod["status"]["containerStatuses"]
    report = {
        "containers": [
            {
                "name": "app",
                "containerID": status.get("containerID", ""),
                "restartCount": status.get("restartCount", 0) + 1,
                "hashes": {"plainHash": 1, "extractedEnvFromMetadataHash": HASH_BAR},
            }
        ]
    }
    annotation = {"apps.kruise.io/runtime-containers-meta": orjson.dumps(report).decode()}
    path = PODS.path(stack.namespace, pod["metadata"]["name"])
    await stack.api.patch(path, {"metadata": {"annotations": annotation}}, "merge")
    await eventually(
        lambda: status_is(stack, updatedReadyReplicas=1, availableReplicas=1), 60, "done after restart"
    )
    assert (await _the_pod(stack))["metadata"]["labels"][LIFECYCLE] == "Normal"
