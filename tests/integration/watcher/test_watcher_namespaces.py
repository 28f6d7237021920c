"""A watcher limited to some namespaces (`--namespace a,b`, what the chart's `watchNamespaces`
sets), against the real control plane and NATS: objects in the listed namespaces trigger their
keys, on change and on resync; an object in another namespace triggers nothing."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import NAMESPACES, KubeClient
from tests.integration.watcher.harness import CM_PATH, TriggerCollector, WatchSetup, start_watcher, wait_ready


@pytest.fixture
async def other_namespaces(kube: KubeClient, namespace: str) -> AsyncIterator[tuple[str, str]]:
    suffix = secrets.token_hex(3)
    names = (f"{namespace[:50]}-b{suffix}", f"{namespace[:50]}-c{suffix}")
    for name in names:
        await kube.create(
            NAMESPACES.path(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
    try:
        yield names
    finally:
        for name in names:
            await kube.delete(NAMESPACES.path("", name))


async def _create(kube: KubeClient, setup: WatchSetup, namespace: str, name: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"flotilla.dev/wtest": setup.label}},
        "data": {"n": "0"},
    }
    await kube.create(CM_PATH.format(ns=namespace), body)


async def test_only_the_listed_namespaces_trigger(
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    tmp_path: Path,
    other_namespaces: tuple[str, str],
) -> None:
    listed, unlisted = other_namespaces
    own = setup.namespace
    await _create(kube, setup, own, "before")  # listed before the watcher starts: the initial list
    watcher = start_watcher(
        dev_env, setup, tmp_path, "w1", f"--namespace={own},{listed}", "--resync-period=4"
    )
    try:
        await wait_ready(watcher)
        await _create(kube, setup, listed, "in-listed")
        await _create(kube, setup, unlisted, "in-unlisted")
        await _create(kube, setup, own, "in-own")
        wanted = {
            f"{setup.type_name}/{own}/before",
            f"{setup.type_name}/{listed}/in-listed",
            f"{setup.type_name}/{own}/in-own",
        }

        def keys() -> set[str]:
            return {str(r.envelope.key) for r in collector.received}

        await collector.wait_for(lambda: wanted <= keys(), 30, lambda: f"triggers for {wanted}; got {keys()}")
        collector.clear()
        # A resync lists each listed namespace again: both namespaces' keys come back.
        await collector.wait_for(lambda: wanted <= keys(), 30, lambda: f"resync of {wanted}; got {keys()}")
        await asyncio.sleep(2)
        assert not [k for k in keys() if f"/{unlisted}/" in k], keys()
        assert "in-unlisted" not in watcher.log_text()
    finally:
        watcher.stop()
