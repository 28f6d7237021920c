"""End to end: one reconcile is one trace in Jaeger, from the watch event to the API writes.

Real processes only: Jaeger v2, `flotilla watcher`, `flotilla worker cloneset` and `flotilla
worker statefulset`, exporting over OTLP/HTTP configured by nothing but the OTEL_* variables,
started once for the module (``tests.support.workerstack.SharedStack``, fixtures from
``stack_fixtures``), each test in its own namespace. A CloneSet is scaled 0 -> 5, an Advanced
StatefulSet with a volumeClaimTemplate 0 -> 3 (Parallel); the trace holding the pod creates
must also hold the watcher's ``watch.event`` (its root) and ``watch.publish``, the worker's
``consume <type>`` with the key, type and outcome, its ``plan`` with the action count, and every
``kube POST`` of a pod (and of the StatefulSet's PVCs) under the reconcile's ``act``
(``tests.support.tracing``).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Mapping

import pytest

from flotilla.devcluster.jaeger import Jaeger, Trace
from flotilla.runtime.kube import PODS, JsonObject
from tests.support.invariants import recreate_cloneset
from tests.support.polling import eventually_async
from tests.support.tracing import api_writes, check_reconcile_trace, traced_env, worker_service
from tests.support.workerstack import Stack, stack_fixtures
from workers.cloneset.lowering import CLONESETS
from workers.statefulset.builder import PVCS, STATEFULSETS

# every fixture but the default ``stack_env``: this module defines its own
worker_types, module_namespaces, namespace, module_stack, traced = stack_fixtures(
    "traced", ("cloneset", "statefulset")
)[:5]


@pytest.fixture(scope="module")
def stack_env(jaeger: Jaeger) -> Mapping[str, str]:
    """The stack's processes export their spans to the session's Jaeger."""
    return traced_env(jaeger)


async def _reconciled(stack: Stack, path: str) -> None:
    """Until the worker has written the object's status for its current generation."""

    async def observed() -> bool:
        obj = await stack.api.get(path)
        status = obj.get("status") or {}
        return bool(status.get("observedGeneration") == obj["metadata"]["generation"])

    await eventually_async(observed, 60, what=f"{path} reconciled")


async def _pods(stack: Stack, count: int, selector: str) -> None:
    async def counted() -> bool:
        listing = await stack.api.get(PODS.path(stack.namespace), {"labelSelector": selector})
        return len(listing.get("items", [])) == count

    await eventually_async(counted, 60, what=f"{count} pods {selector}")


async def _trace(jaeger: Jaeger, worker_type: str, key: str, wanted: Callable[[Trace], bool]) -> Trace:
    query = jaeger.query()
    return await asyncio.to_thread(
        query.wait_for_trace, worker_service(worker_type), wanted, 60, tags={"flotilla.key": key}
    )


async def test_scaling_a_cloneset_is_one_trace_from_watch_event_to_pod_creates(
    traced: Stack, jaeger: Jaeger, kubectl: Callable[..., object]
) -> None:
    replicas, namespace, name = 5, traced.namespace, f"web-{secrets.token_hex(2)}"
    created = recreate_cloneset(namespace, name, 0, "nginx:1.27", surge=0, unavailable=1)
    await traced.api.create(CLONESETS.path(namespace), created)
    await _reconciled(traced, CLONESETS.path(namespace, name))

    kubectl("scale", f"clonesets.apps.kruise.io/{name}", "-n", namespace, f"--replicas={replicas}")
    await _pods(traced, replicas, f"app={name}")

    pods = PODS.path(namespace)
    trace = await _trace(
        jaeger,
        "cloneset",
        f"cloneset/{namespace}/{name}",
        lambda t: len(api_writes(t, "POST", pods)) == replicas and bool(t.named("watch.event")),
    )
    creates = api_writes(trace, "POST", pods)
    assert len(creates) == replicas
    check_reconcile_trace(
        trace, worker_type="cloneset", resource="clonesets", namespace=namespace, name=name, writes=creates
    )


def _advanced_statefulset(namespace: str, name: str) -> JsonObject:
    """Parallel, so one reconcile creates every replica; a PVC per ordinal, never bound here."""
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 0,
            "serviceName": name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
                }
            ],
        },
    }


async def test_scaling_an_advanced_statefulset_is_one_trace_from_watch_event_to_pvc_and_pod_creates(
    traced: Stack, jaeger: Jaeger, kubectl: Callable[..., object]
) -> None:
    replicas, namespace, name = 3, traced.namespace, f"db-{secrets.token_hex(2)}"
    await traced.api.create(STATEFULSETS.path(namespace), _advanced_statefulset(namespace, name))
    await _reconciled(traced, STATEFULSETS.path(namespace, name))

    kubectl("scale", f"statefulsets.apps.kruise.io/{name}", "-n", namespace, f"--replicas={replicas}")
    await _pods(traced, replicas, f"app={name}")

    pods, claims = PODS.path(namespace), PVCS.path(namespace)
    trace = await _trace(
        jaeger,
        "statefulset",
        f"statefulset/{namespace}/{name}",
        lambda t: len(api_writes(t, "POST", pods)) == replicas and bool(t.named("watch.event")),
    )
    pod_creates, claim_creates = api_writes(trace, "POST", pods), api_writes(trace, "POST", claims)
    assert (len(pod_creates), len(claim_creates)) == (replicas, replicas), trace.summary()
    stages = check_reconcile_trace(
        trace,
        worker_type="statefulset",
        resource="statefulsets",
        namespace=namespace,
        name=name,
        writes=[*claim_creates, *pod_creates],
    )
    # kruise creates an ordinal's PVCs before its pod: the writes alternate claim, pod, ...
    writes = sorted(claim_creates + pod_creates, key=lambda s: s.start_us)
    assert [s.attributes["url.path"] for s in writes] == [claims, pods] * replicas
    # ... and the set's status goes last, after them, in the same act
    (status,) = api_writes(trace, "PATCH", STATEFULSETS.path(namespace, name, "status"))
    assert stages["act"] in trace.ancestors(status)
    assert status.start_us >= writes[-1].start_us + writes[-1].duration_us
