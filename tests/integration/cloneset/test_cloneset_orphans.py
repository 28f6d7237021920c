"""An ownerless pod that matches a CloneSet's selector is adopted at once, not at the next resync.

The watcher runs with ``--resync-period=3600``, so nothing but the pod's own watch event (mapped
to every CloneSet of its namespace whose selector matches it, as kruise's pod event handler
does) can make the CloneSet look at it. Two ways in: a pod created matching, and a pod created
not matching whose labels are then changed to match.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.streams import worker_bus
from tests.integration.cloneset.test_cloneset_stack import eventually, manifest, status_is
from tests.support.workers import FLOTILLA, free_port
from tests.support.workerstack import Stack, start_process, stop_processes, watching_pods
from workers.cloneset.lowering import CLONESETS

#: Adoption must come from the pod's event: far below the resync period, above a loaded machine's lag.
PROMPTLY = 30.0


@pytest.fixture
async def slow_resync_stack(
    dev_env: DevEnvironment,
    kruise_crds: list[str],
    jetstream: JetStreamContext,
    namespace: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """The CloneSet stack with the periodic resync an hour away."""
    await declare(jetstream, worker_bus("cloneset"))
    ident = secrets.token_hex(3)
    watcher_log, worker_log = tmp_path / "watcher.log", tmp_path / "worker.log"
    watcher = start_process(
        [
            str(FLOTILLA), "watcher", "--types=cloneset", f"--namespace={namespace}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--nats-url={dev_env.nats_url}",
            f"--lease-namespace={namespace}", f"--lease-name=watcher-{ident}", f"--identity=w-{ident}",
            f"--http-port={free_port()}", "--resync-period=3600",
        ],
        watcher_log,
    )  # fmt: skip
    worker = start_process(
        [
            str(FLOTILLA), "worker", "cloneset", f"--nats-url={dev_env.nats_url}",
            f"--kubeconfig={dev_env.kubeconfig}", f"--http-port={free_port()}",
        ],
        worker_log,
    )  # fmt: skip
    try:
        async with KubeClient.from_environment(dev_env.kubeconfig) as api:
            yield Stack(namespace, api, [watcher_log, worker_log])
    finally:
        stop_processes(worker, watcher)


def _orphan(name: str, labels: dict[str, str]) -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
    }


def _controller(pod: JsonObject) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref.get('kind')}/{ref.get('name')}"
    return None


def _adopted(events: list[tuple[str, JsonObject]], name: str) -> bool:
    return any(pod["metadata"]["name"] == name and _controller(pod) == "CloneSet/web" for _, pod in events)


async def test_an_ownerless_matching_pod_is_adopted_without_waiting_for_the_resync(
    slow_resync_stack: Stack,
) -> None:
    stack = slow_resync_stack
    await stack.api.create(CLONESETS.path(stack.namespace), manifest(stack.namespace, 2))
    await eventually(lambda: status_is(stack, replicas=2, readyReplicas=2), 90, "2 ready")

    async with watching_pods(stack, selector="app") as recorded:
        # created matching the selector
        await stack.api.create(PODS.path(stack.namespace), _orphan("stray-1", {"app": "web"}))

        async def first_adopted() -> bool:
            return _adopted(recorded.events, "stray-1")

        await eventually(first_adopted, PROMPTLY, f"stray-1 adopted\n{stack.log_text()}")

        # created outside the selector: left alone; relabelled into it: adopted
        await stack.api.create(PODS.path(stack.namespace), _orphan("stray-2", {"app": "other"}))
        await stack.api.patch(
            PODS.path(stack.namespace, "stray-2"), {"metadata": {"labels": {"app": "web"}}}, "merge"
        )

        async def second_adopted() -> bool:
            return _adopted(recorded.events, "stray-2")

        await eventually(second_adopted, PROMPTLY, f"stray-2 adopted\n{stack.log_text()}")

    # the adopted pods count: the CloneSet scales back in to its 2 replicas
    await eventually(
        lambda: status_is(stack, replicas=2, readyReplicas=2), 60, "scaled in to 2 after the adoptions"
    )
    watcher_log = stack.logs[0].read_text(errors="replace")
    assert "resync of cloneset" not in watcher_log  # adoption came from the pod events
