"""ImagePullJob -> NodeImage -> a real pull through containerd's CRI, on the real node.

The stack: ``flotilla worker nodeimage`` (a NodeImage per Node, as kruise-manager), ``flotilla
worker imagepulljob`` (the job's tag written into its nodes' NodeImages, the job's status), their
watcher, and ``flotilla node-agent`` (the node's NodeImage pulled through the CRI socket, its
status written), all as processes next to the session's real node. Two jobs name the real node:

1. ``pull-v2`` pulls the registry-only image v2 (``imagePullPolicy: Always``, so the registry is
   asked even when an earlier test's kubelet already pulled it): the job completes with 1
   succeeded, "job has completed"; the NodeImage's tag is ``Succeeded`` with the image's ID; the
   runtime lists the image afterwards;
2. ``pull-missing`` asks for a tag the loopback registry has not (``backoffLimit: 0``): the tag is
   ``Failed`` with kruise's message (``Failed to pull image reference "...": rpc error: code =
   NotFound desc = ...``), the job completes with 1 failed and the node in ``failedNodes``, a
   ``PullImageFailed`` Event on the job; its ``ttlSecondsAfterFinished: 6`` deletes it, and the
   NodeImage worker then drops the tag it alone owned (the job's deletion triggers it).

Nothing else is touched: the other nodes' NodeImages get no image, the v2 tag stays.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.realnode import STATE_DIR, RealNode
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import KubeClient, Resource
from nodeagent.cri.runtime import CriImages, CriRuntime
from nodeagent.imagepull.agent import contains_image
from nodeagent.imagepull.imageref import name_and_tag
from tests.integration.realnode.test_realnode_crr import node_agent
from tests.support.namespaces import ModuleNamespaces
from tests.support.polling import eventually_async
from tests.support.workerstack import SharedStack, Stack, shared_stack

pytestmark = pytest.mark.usefixtures("kruise_crds")

__all__ = ["node_agent"]

JOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs")
NODEIMAGES = Resource("apps.kruise.io", "v1beta1", "nodeimages", namespaced=False)
EVENTS = Resource("", "v1", "events")
TYPES = ("nodeimage", "imagepulljob")
DELAY_ENV = "FLOTILLA_NODEIMAGE_CREATION_DELAY"


@pytest.fixture(scope="module")
def image_namespaces(request: pytest.FixtureRequest, api_client: k8s.ApiClient) -> Iterator[ModuleNamespaces]:
    spaces = ModuleNamespaces(k8s.CoreV1Api(api_client), request, lambda _item: True)
    try:
        yield spaces
    finally:
        spaces.close()


@pytest.fixture(scope="module")
async def image_stack(
    dev_env: DevEnvironment, image_namespaces: ModuleNamespaces, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SharedStack]:
    """The two workers and their watcher; the NodeImages they made are deleted after them."""
    saved = os.environ.get(DELAY_ENV)
    os.environ[DELAY_ENV] = "0"  # kruise's --nodeimage-creation-delay: the node is Ready already
    try:
        async with shared_stack(
            TYPES, dev_env=dev_env, namespaces=image_namespaces, log_dir=tmp_path_factory.mktemp("imagestack")
        ) as shared:
            yield shared
        async with KubeClient.from_environment(dev_env.kubeconfig) as api:
            await api.delete(NODEIMAGES.path())
    finally:
        if saved is None:
            os.environ.pop(DELAY_ENV, None)
        else:
            os.environ[DELAY_ENV] = saved


@pytest.fixture
async def stack(
    image_stack: SharedStack,
    image_namespaces: ModuleNamespaces,
    jetstream: JetStreamContext,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    with image_namespaces.for_test(request.node) as namespace:
        async with image_stack.for_test(jetstream, namespace, request) as running:
            yield running


def _job(name: str, namespace: str, image: str, node: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "ImagePullJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": image,
            "selector": {"names": [node]},
            "parallelism": 1,
            "completionPolicy": {"type": "Always"},
            **spec,
        },
    }


async def test_an_imagepulljob_pulls_on_the_real_node_and_a_missing_tag_fails(
    real_node: RealNode, node_agent: subprocess.Popen[bytes], stack: Stack
) -> None:
    api, namespace, node = stack.api, stack.namespace, real_node.name
    started = time.monotonic()

    async def node_image() -> dict[str, Any]:
        try:
            return await api.get(NODEIMAGES.path("", node))
        except NotFound:
            return {}

    await eventually_async(node_image, 60, what="the real node's NodeImage made by the nodeimage worker")
    v2 = real_node.images["v2"]
    image, tag = name_and_tag(v2)
    missing = f"{image}:no-such-tag"
    pull = _job(
        "pull-v2",
        namespace,
        v2,
        node,
        imagePullPolicy="Always",
        pullPolicy={"backoffLimit": 1, "timeoutSeconds": 60},
    )
    miss = _job("pull-missing", namespace, missing, node, pullPolicy={"backoffLimit": 0},
                completionPolicy={"type": "Always", "ttlSecondsAfterFinished": 6})  # fmt: skip
    await api.create(JOBS.path(namespace), miss)
    await api.create(JOBS.path(namespace), pull)

    async def finished(name: str) -> dict[str, Any]:
        job = await api.get(JOBS.path(namespace, name))
        return job if (job.get("status") or {}).get("completionTime") else {}

    def tag_statuses(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
        tags = (((obj.get("status") or {}).get("imageStatuses") or {}).get(image) or {}).get("tags") or ()
        return {t["tag"]: t for t in tags}

    async def missing_failed() -> tuple[dict[str, Any], dict[str, Any]] | None:
        # read both before the job's TTL (6 s) deletes it and its tag leaves the NodeImage
        job, obj = await finished("pull-missing"), await node_image()
        phase = tag_statuses(obj).get("no-such-tag", {}).get("phase")
        return (job, obj) if job and phase == "Failed" else None

    seen = await eventually_async(missing_failed, 60, what="pull-missing completed, its tag Failed")
    assert seen is not None
    job, obj = seen
    status = job["status"]
    assert (status["desired"], status.get("succeeded", 0), status["failed"]) == (1, 0, 1), status
    assert (status["failedNodes"], status["message"]) == ([node], "job has completed"), status
    failed = tag_statuses(obj)["no-such-tag"]
    prefix = f'Failed to pull image reference "{missing}": rpc error: code = NotFound desc = '
    assert failed["message"].startswith(prefix), failed
    assert failed["completionTime"]
    owners = {
        t["tag"]: [o["name"] for o in t["ownerReferences"]] for t in obj["spec"]["images"][image]["tags"]
    }
    assert owners["no-such-tag"] == ["pull-missing"], owners

    done = await eventually_async(lambda: finished("pull-v2"), 60, what="pull-v2 completed")
    status = done["status"]
    assert (status["desired"], status["succeeded"], status.get("failed", 0)) == (1, 1, 0), status
    assert status["message"] == "job has completed"

    async def unprotected() -> bool:  # the pass after completion removes the finalizer
        job = await api.get(JOBS.path(namespace, "pull-v2"))
        return "apps.kruise.io/deletion-protection" not in (job["metadata"].get("finalizers") or ())

    await eventually_async(unprotected, 20, what="pull-v2's deletion-protection finalizer removed")
    pulled = tag_statuses(await node_image())[tag]
    assert pulled["phase"] == "Succeeded", pulled
    assert pulled["imageID"].startswith(f"{image}@sha256:"), pulled

    # the job saw it too, then its TTL deleted it, and the tag it alone owned left the NodeImage
    events = await api.get(
        EVENTS.path(namespace), params={"fieldSelector": "involvedObject.name=pull-missing"}
    )
    reasons = {(e["reason"], e["message"]) for e in events.get("items") or ()}
    assert ("PullImageFailed", f"Image {missing} {failed['message']}") in reasons, reasons

    async def job_gone() -> bool:
        try:
            await api.get(JOBS.path(namespace, "pull-missing"))
        except NotFound:
            return True
        return False

    await eventually_async(job_gone, 30, what="pull-missing deleted by ttlSecondsAfterFinished")

    async def tag_dropped() -> bool:
        obj = await node_image()
        return [t["tag"] for t in obj["spec"]["images"][image]["tags"]] == [tag]

    await eventually_async(tag_dropped, 30, what="the missing tag dropped once its only owner was gone")
    print(f"\nimage pulls on the real node: {time.monotonic() - started:.1f}s")

    # the image is in containerd; no other node's NodeImage was given an image
    runtime = CriRuntime(f"unix://{STATE_DIR / 'containerd' / 'containerd.sock'}")
    try:
        assert contains_image(await CriImages(runtime).list_images(), image, tag) is not None
    finally:
        await runtime.close()
    others = (await api.get(NODEIMAGES.path())).get("items") or ()
    assert all(not (o.get("spec") or {}).get("images") for o in others if o["metadata"]["name"] != node)
    assert node_agent.poll() is None, "the node agent exited"
