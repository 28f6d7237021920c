"""End to end with the real watcher: a ConfigMap change reaches a testcm worker and is reconciled.

The watcher (``flotilla watcher``) watches labelled ConfigMaps of the test namespace as the
``testcm`` type (a config file), publishes triggers; a ``flotilla worker testcm`` process
reconciles them. Every change, including rapid successive ones, ends reconciled.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import CONFIGMAPS, KubeClient
from tests.support.fixtures import StartWorker
from tests.support.polling import eventually_async
from tests.support.workers import (
    FLOTILLA,
    LABEL,
    REPO,
    create_configmaps,
    free_port,
    reconciled_values,
)

WATCH_CONFIG = f"""
types:
  testcm:
    resource: {{group: "", version: v1, resource: configmaps, kind: ConfigMap}}
    labelSelector: {LABEL}=true
"""


def _start_watcher(
    dev_env: DevEnvironment, config: Path, namespace: str, log_path: Path
) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [
            str(FLOTILLA), "watcher", "--config", str(config), "--types", "testcm", "--namespace", namespace,
            "--kubeconfig", str(dev_env.kubeconfig), "--nats-url", dev_env.nats_url,
            "--lease-namespace", namespace, "--lease-name", f"watcher-{namespace}",
            "--http-port", str(free_port()),
        ],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


async def test_changes_flow_from_watcher_to_worker(
    dev_env: DevEnvironment,
    kube: KubeClient,
    testcm_bus: JetStreamContext,
    namespace: str,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    config = tmp_path / "watch.yaml"
    config.write_text(WATCH_CONFIG)
    watcher = _start_watcher(dev_env, config, namespace, tmp_path / "watcher.log")
    try:
        start_worker()
        names = [f"w-{i}" for i in range(10)]
        await create_configmaps(kube, namespace, names, {"desired": "v1"})

        async def reached(value: str) -> bool:
            values = await reconciled_values(kube, namespace)
            return all(values.get(n) == value for n in names)

        await eventually_async(
            lambda: reached("v1"),
            60,
            what=lambda: "v1 reconciled\n" + (tmp_path / "watcher.log").read_text()[-3000:],
        )
        for step in ("v2", "v3", "v4"):  # rapid successive changes: the last one must win
            for name in names:
                await kube.patch(CONFIGMAPS.path(namespace, name), {"data": {"desired": step}})
        await eventually_async(lambda: reached("v4"), 60)
    finally:
        watcher.terminate()
        watcher.wait(30)
