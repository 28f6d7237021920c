"""``workers.cloneset.nodes.node_labels`` against the real local API server and its kwok nodes.

Proves: each distinct node is read once, concurrently, and its labels come back as the API
server has them; unscheduled (empty) and unknown node names are left out; a ServiceAccount
without ``get`` on nodes gets an empty answer (no exception) and one clear warning per reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from tests.integration.helm.identity import Kubectl, service_account_kubeconfig
from workers.cloneset.nodes import NODES, node_labels
from workers.runtime.observe import ApiStateReader

LOGGER = "flotilla.worker.cloneset.nodes"


@pytest.fixture
async def kube(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    async with KubeClient.from_environment(kubeconfig) as client:
        yield client


class BarrierReader:
    """A StateReader over the API that records the names it gets and holds every GET until
    ``expected`` of them are in flight at once (a sequential caller would time out)."""

    def __init__(self, inner: ApiStateReader, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.names: list[str] = []
        self.all_in = asyncio.Event()

    async def get(self, resource: Resource, namespace: str, name: str) -> JsonObject | None:
        self.names.append(name)
        if len(self.names) >= self.expected:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), timeout=10)
        return await self.inner.get(resource, namespace, name)

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[JsonObject]:
        return await self.inner.list(resource, namespace, label_selector, field_selector)


async def test_labels_of_each_distinct_node_read_concurrently(kube: KubeClient) -> None:
    reader = ApiStateReader(kube)
    listed = {
        node["metadata"]["name"]: node["metadata"].get("labels", {}) for node in await reader.list(NODES, "")
    }
    assert listed, "the dev cluster has kwok nodes"
    names = sorted(listed)[:3]
    asked = [*names, "", *names, "flotilla-no-such-node"]  # '' = an unscheduled pod
    barrier = BarrierReader(reader, expected=len(names) + 1)

    found = await node_labels(barrier, asked)

    assert sorted(barrier.names) == sorted([*names, "flotilla-no-such-node"]), "one GET per distinct name"
    assert found == {name: listed[name] for name in names}
    assert all("kubernetes.io/hostname" in found[name] for name in names)


async def test_no_names_no_reads(kube: KubeClient) -> None:
    barrier = BarrierReader(ApiStateReader(kube), expected=1)
    assert await node_labels(barrier, ["", ""]) == {}
    assert barrier.names == []


async def test_forbidden_nodes_are_left_out_and_warned_once(
    kube: KubeClient,
    kubeconfig: Path,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = sorted(node["metadata"]["name"] for node in await ApiStateReader(kube).list(NODES, ""))[:2]
    kubectl("create", "serviceaccount", "no-nodes", "-n", namespace)
    config = service_account_kubeconfig(kubectl, kubeconfig, namespace, "no-nodes", tmp_path)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    async with KubeClient.from_environment(config) as client:
        reader = ApiStateReader(client)
        assert await node_labels(reader, names) == {}
        assert await node_labels(reader, names) == {}
        other = ApiStateReader(client)
        assert await node_labels(other, names[:1]) == {}

    records = [r for r in caplog.records if r.name == LOGGER]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, "one warning per reader"
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG, logging.WARNING]
    message = warnings[0].getMessage()
    assert "403" in message
    assert "`get` on `nodes`" in message
    assert "workers.cloneset.rules" in message
    assert f"{len(names)} node(s)" in message
