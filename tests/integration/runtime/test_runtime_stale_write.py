"""A write answered 404 because its object went away after it was observed re-plans, as a 409 does.

Seen in the benchmark's worker log: a pod deleted between plan and act (by the garbage
collector) made the CloneSet's reconcile fail ("reconcile failed: NotFound: PATCH
.../pods/...: 404", "failure 1/5"), counting towards its dead letter. Here the real CloneSet
worker runs in-process on the real API server and NATS, with its ``act`` wrapped by a hook that
deletes the first pod the plan writes to, just before the writes go out: the PATCH gets the API
server's 404, the runtime re-plans from fresh state, nothing is counted as a failure (no error
outcome, no failure log, no dead letter, no FailedUpdate condition) and the CloneSet converges
with a replacement pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import replace

import pytest
from kubernetes import client as k8s
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.bootstrap import declare
from schemas.bus.streams import DEADLETTER_STREAM, RECONCILE_STREAM, worker_bus
from schemas.bus.subjects import deadletter_subject
from tests.support.fixtures import kube
from tests.support.polling import eventually_async
from tests.support.workers import free_port, publish_trigger
from workers.cloneset import actions as steps
from workers.cloneset.act import act
from workers.cloneset.lowering import CLONESETS, CloneSetPlan, CloneSetSnapshot
from workers.cloneset.worker import WORKER
from workers.runtime.consumer import RuntimeOptions
from workers.runtime.contract import Plan
from workers.runtime.process import WorkerSettings, run_worker

__all__ = ["kube"]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _cloneset(namespace: str) -> JsonObject:
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
        },
    }


def _reconciles(type_name: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("flotilla_reconciles_total", {"type": type_name, "outcome": outcome}) or 0.0
    )


async def test_a_pod_deleted_between_plan_and_act_re_plans_without_a_failure(
    dev_env: DevEnvironment,
    api_client: k8s.ApiClient,
    kruise_crds: list[str],
    kube: KubeClient,
    jetstream: JetStreamContext,
    namespace: str,
) -> None:
    core = k8s.CoreV1Api(api_client)
    type_name = f"cs404-{secrets.token_hex(3)}"
    deleted: list[str] = []
    gone: list[NotFound] = []

    async def act_after_deleting_a_pod(api: KubeClient, snapshot: CloneSetSnapshot, plan: Plan) -> None:
        """The real act, after deleting (once) the first pod the plan patches: it is gone when the
        plan's writes go out, as when the garbage collector removes it meanwhile."""
        assert isinstance(plan, CloneSetPlan)
        target = next((s.name for s in plan.steps if isinstance(s, steps.PatchPod)), None)
        if target is not None and not deleted:
            deleted.append(target)
            await asyncio.to_thread(core.delete_namespaced_pod, target, namespace, grace_period_seconds=0)

            async def pod_gone() -> bool:
                try:
                    await api.get(PODS.path(namespace, target))
                except NotFound:
                    return True
                return False

            await eventually_async(pod_gone, 30, interval=0.1, what=f"pod {target} deleted")
        try:
            await act(api, snapshot, plan)
        except NotFound as err:
            gone.append(err)
            raise

    worker = replace(WORKER, name=type_name, act=act_after_deleting_a_pod)
    await declare(jetstream, worker_bus(type_name))
    await kube.create(CLONESETS.path(namespace), _cloneset(namespace))
    settings = WorkerSettings(
        nats_url=dev_env.nats_url,
        kubeconfig=dev_env.kubeconfig,
        http_port=free_port(),
        options=RuntimeOptions(),
    )
    lines = _Lines()
    logger = logging.getLogger("flotilla.worker")
    level = logger.level
    logger.setLevel(logging.INFO)  # the runtime logs its re-plans at INFO
    logger.addHandler(lines)
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(worker, settings, stop))
    try:

        async def converged() -> bool:
            # what the watcher would publish for the pods' and the CloneSet's changes
            await publish_trigger(jetstream, namespace, "web", worker_type=type_name)
            status = (await kube.get(CLONESETS.path(namespace, "web"))).get("status") or {}
            pods = (await kube.get(PODS.path(namespace), {"labelSelector": "app=web"})).get("items", [])
            names = {p["metadata"]["name"] for p in pods}
            return (
                bool(deleted)
                and deleted[0] not in names
                and len(names) == 2
                and status.get("replicas") == 2
                and status.get("readyReplicas") == 2
            )

        await eventually_async(converged, 90, interval=0.5, what="2 ready pods, the deleted one replaced")
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        logger.removeHandler(lines)
        logger.setLevel(level)
        with contextlib.suppress(NotFoundError):
            await jetstream.delete_consumer(RECONCILE_STREAM, f"worker-{type_name}")

    # the 404 really came: the plan's PATCH of the deleted pod
    assert gone, "no write was answered 404: the hook did not delete a pod the plan wrote to"
    assert (gone[0].status, gone[0].method) == (404, "PATCH")
    assert deleted[0] in str(gone[0])
    assert any("object gone since observed, re-planning from fresh state" in line for line in lines.lines)
    # and it was not a failure: no error outcome, no failure line, no dead letter, no condition
    assert _reconciles(type_name, "error") == 0
    assert not [line for line in lines.lines if "reconcile failed" in line or line.startswith("failure ")]
    with pytest.raises(NotFoundError):
        await jetstream.get_last_msg(DEADLETTER_STREAM, deadletter_subject(type_name, namespace, "web"))
    conditions = (await kube.get(CLONESETS.path(namespace, "web")))["status"].get("conditions") or []
    assert not [c for c in conditions if c["type"] in ("FailedUpdate", "FailedScale")], conditions
