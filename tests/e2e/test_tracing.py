"""End to end: one reconcile is one trace in Jaeger, from the watch event to the pod creates.

Real processes only: Jaeger v2, `flotilla watcher` and `flotilla worker cloneset`, exporting
over OTLP/HTTP configured by nothing but the OTEL_* variables. A CloneSet is scaled 0 -> 5;
the trace holding the five pod creates must also hold the watcher's ``watch.event`` (its root)
and ``watch.publish``, the worker's ``consume cloneset`` with the key, type and outcome, its
``plan`` with the action count, and every ``kube POST`` of a pod under the reconcile's ``act``.
"""

from __future__ import annotations

import os
import secrets
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client as k8s

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.jaeger import Jaeger, Trace, TraceSpan
from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ManagedProcess
from schemas.crdgen import install_crds
from tests.support.invariants import recreate_cloneset
from tests.support.polling import eventually

REPO = Path(__file__).resolve().parents[2]
WATCHER_SERVICE = "flotilla-watcher"
WORKER_SERVICE = "flotilla-worker-cloneset"
REPLICAS = 5


@dataclass
class Flotilla:
    """The watcher and the CloneSet worker of one test, as OS processes."""

    processes: list[ManagedProcess]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=30)


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/readyz", timeout=2) as response:
        return bool(response.status == 200)


def _start(
    name: str, args: list[str], service: str, dev_env: DevEnvironment, jaeger: Jaeger, logs: Path
) -> ManagedProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        jaeger.otel_env(service),
        OTEL_BSP_SCHEDULE_DELAY="200",
        PYTHONPATH=str(REPO),
        KUBECONFIG=str(dev_env.kubeconfig),
        NATS_URL=dev_env.nats_url,
    )
    argv = [sys.executable, "-m", "flotilla.cli", *args, f"--http-port={port}"]
    process = ManagedProcess(name, argv, logs / f"{name}.log", env=env)
    process.start()
    process.wait_until(lambda: _ready(port), 60, "ready (/readyz)")
    return process


@pytest.fixture
def flotilla(
    dev_env: DevEnvironment, api_client: k8s.ApiClient, namespace: str, jaeger: Jaeger, tmp_path: Path
) -> Iterator[Flotilla]:
    install_crds(api_client)
    running = Flotilla([])
    try:
        running.processes.append(
            _start(
                "watcher",
                [
                    "watcher",
                    "--types=cloneset",
                    f"--namespace={namespace}",
                    f"--lease-namespace={namespace}",
                    f"--lease-name=watcher-{secrets.token_hex(3)}",
                ],
                WATCHER_SERVICE,
                dev_env,
                jaeger,
                tmp_path,
            )
        )
        running.processes.append(
            _start("worker-cloneset", ["worker", "cloneset"], WORKER_SERVICE, dev_env, jaeger, tmp_path)
        )
        yield running
    finally:
        running.stop()


def _pod_creates(trace: Trace, namespace: str) -> list[TraceSpan]:
    path = f"/api/v1/namespaces/{namespace}/pods"
    return [s for s in trace.named("kube POST") if s.attributes.get("url.path") == path]


def test_scaling_a_cloneset_is_one_trace_from_watch_event_to_pod_creates(
    flotilla: Flotilla,
    jaeger: Jaeger,
    api_client: k8s.ApiClient,
    namespace: str,
    kubectl: Callable[..., object],
) -> None:
    name = f"web-{secrets.token_hex(2)}"
    key = f"cloneset/{namespace}/{name}"
    kruise = k8s.CustomObjectsApi(api_client)
    core = k8s.CoreV1Api(api_client)

    def cloneset() -> dict[str, object]:
        found = kruise.get_namespaced_custom_object(
            "apps.kruise.io", "v1alpha1", namespace, "clonesets", name
        )
        assert isinstance(found, dict)
        return found

    kruise.create_namespaced_custom_object(
        "apps.kruise.io",
        "v1alpha1",
        namespace,
        "clonesets",
        recreate_cloneset(namespace, name, 0, "nginx:1.27", surge=0, unavailable=1),
    )

    def observed_by_the_worker() -> bool:
        obj = cloneset()
        status, metadata = obj.get("status"), obj["metadata"]
        assert isinstance(metadata, dict)
        return isinstance(status, dict) and status.get("observedGeneration") == metadata["generation"]

    eventually(observed_by_the_worker, timeout=60, what="reconciled at 0 replicas")

    kubectl("scale", f"clonesets.apps.kruise.io/{name}", "-n", namespace, f"--replicas={REPLICAS}")
    eventually(
        lambda: len(core.list_namespaced_pod(namespace, label_selector=f"app={name}").items) == REPLICAS,
        timeout=60,
        what=f"{REPLICAS} pods",
    )

    trace = jaeger.query().wait_for_trace(
        WORKER_SERVICE,
        lambda t: len(_pod_creates(t, namespace)) == REPLICAS and bool(t.named("watch.event")),
        timeout=60,
        tags={"flotilla.key": key},
    )
    assert trace.services == {WATCHER_SERVICE, WORKER_SERVICE}, trace.summary()

    # The watcher: the event is the trace's root, its publish the parent of the consume.
    (event,) = trace.named("watch.event")
    assert event.parent_id is None
    assert event.service == WATCHER_SERVICE
    assert event.attributes["k8s.namespace"] == namespace
    assert event.attributes["k8s.name"] == name
    assert "clonesets" in str(event.attributes["k8s.resource"])
    assert event.attributes["watch.event_type"] == "MODIFIED"
    (publish,) = trace.named("watch.publish")
    assert publish.parent_id == event.span_id
    assert publish.service == WATCHER_SERVICE
    assert publish.attributes["flotilla.key"] == key
    assert publish.attributes["span.kind"] == "producer"
    assert (
        publish.attributes["messaging.destination.name"] == f"flotilla.reconcile.cloneset.{namespace}.{name}"
    )

    # The worker: one reconcile of the key, continued from the publish.
    (consume,) = trace.named("consume cloneset")
    assert consume.parent_id == publish.span_id
    assert consume.service == WORKER_SERVICE
    assert consume.attributes["span.kind"] == "consumer"
    assert consume.attributes["flotilla.key"] == key
    assert consume.attributes["flotilla.type"] == "cloneset"
    assert consume.attributes["flotilla.outcome"] == "success"
    stages = {span.name: span for span in trace.children(consume)}
    assert {"observe", "plan", "act"} <= set(stages), trace.summary()
    assert int(stages["plan"].attributes["flotilla.actions"]) >= REPLICAS

    # Each pod create is an API call span under the reconcile's act.
    creates = _pod_creates(trace, namespace)
    assert len(creates) == REPLICAS
    for create in creates:
        assert create.service == WORKER_SERVICE
        assert create.attributes["span.kind"] == "client"
        assert create.attributes["http.response.status_code"] == 201
        chain = trace.ancestors(create)
        assert stages["act"] in chain
        assert chain[-1] == event
