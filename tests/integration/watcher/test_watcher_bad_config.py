"""Bad configuration gives a clear error and a non-ready probe, not a crash loop: RBAC that
forbids a watched kind, and a RECONCILE stream that exists with a conflicting configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import yaml
from nats.js import api

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.nats import NatsServer
from flotilla.runtime.kube import KubeClient
from schemas.bus.streams import RECONCILE_STREAM
from tests.integration.watcher.harness import (
    ConfigMaps,
    TriggerCollector,
    WatcherProcess,
    WatchSetup,
)
from tests.support.polling import eventually_async


async def restricted_kubeconfig(
    kube: KubeClient, dev_kubeconfig: Path, setup: WatchSetup, path: Path
) -> Path:
    """A kubeconfig for a ServiceAccount that may watch ConfigMaps and hold Leases, not Pods."""
    ns = setup.namespace
    await kube.create(
        f"/api/v1/namespaces/{ns}/serviceaccounts",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "watcher"}},
    )
    await kube.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "watcher"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update"],
                },
            ],
        },
    )
    await kube.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "watcher"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "watcher"},
            "subjects": [{"kind": "ServiceAccount", "name": "watcher", "namespace": ns}],
        },
    )
    token = await kube.create(
        f"/api/v1/namespaces/{ns}/serviceaccounts/watcher/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    config = yaml.safe_load(await asyncio.to_thread(dev_kubeconfig.read_text))
    cluster = config["clusters"][0]
    config["users"] = [{"name": "watcher", "user": {"token": token["status"]["token"]}}]
    config["contexts"] = [{"name": "watcher", "context": {"cluster": cluster["name"], "user": "watcher"}}]
    config["current-context"] = "watcher"
    await asyncio.to_thread(path.write_text, yaml.safe_dump(config))
    return path


async def test_rbac_forbidding_a_watched_kind_is_a_clear_non_ready_probe(
    dev_env: DevEnvironment, setup: WatchSetup, collector: TriggerCollector, kube: KubeClient, tmp_path: Path
) -> None:
    kubeconfig = await restricted_kubeconfig(
        kube, dev_env.kubeconfig, setup, tmp_path / "restricted.kubeconfig"
    )
    watcher = WatcherProcess(setup, kubeconfig, dev_env.nats_url, "norbac", tmp_path / "norbac.log").start()
    try:
        await eventually_async(
            lambda: "RBAC forbids list/watch of pods" in watcher.log_text(), 60, what="the RBAC log line"
        )
        await asyncio.sleep(3)
        assert watcher.alive()
        status, body = watcher.readyz()
        assert status == 503
        check = body["watch pods"]
        assert isinstance(check, dict)
        assert check["ready"] is False
        assert "RBAC forbids list/watch of pods" in check["reason"]
        assert "'list' and 'watch' on pods in the core API group" in check["reason"]
        # the kinds it may watch still work
        cms = ConfigMaps(kube, setup)
        await cms.create("allowed")
        await collector.wait_for(lambda: collector.seen_rv("allowed", cms.latest["allowed"]), 30, "a trigger")
        # the line is logged once per problem, not at every retry
        assert watcher.log_text().count("RBAC forbids list/watch of pods") == 1
    finally:
        watcher.stop()


async def test_conflicting_stream_is_a_clear_non_ready_probe(
    dev_env: DevEnvironment, setup: WatchSetup, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "nats")
    server.start()
    watcher: WatcherProcess | None = None
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        # same name and subjects, but memory storage: JetStream cannot change that in place
        await js.add_stream(
            api.StreamConfig(
                name=RECONCILE_STREAM, subjects=["flotilla.reconcile.>"], storage=api.StorageType.MEMORY
            )
        )
        await nc.close()
        watcher = WatcherProcess(
            setup, dev_env.kubeconfig, server.url, "conflict", tmp_path / "conflict.log"
        ).start()
        conflicted = watcher

        def bus_not_ready() -> bool:
            status, body = conflicted.readyz()
            bus = body.get("bus")
            return status == 503 and isinstance(bus, dict) and not bus["ready"]

        await eventually_async(bus_not_ready, 30, what="bus not ready")
        await asyncio.sleep(3)
        assert watcher.alive()
        _, body = watcher.readyz()
        reason = str(body["bus"])
        assert "RECONCILE" in reason
        assert "storage" in reason
        assert "cannot correct" in watcher.log_text()
        assert watcher.metric("flotilla_watcher_is_leader") == 0  # never leads without its stream
    finally:
        if watcher is not None:
            watcher.stop()
        server.stop()
