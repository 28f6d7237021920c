"""A checkpoint the watcher cannot resume from (corrupt bytes, the wrong shape, a resourceVersion
the API server refuses) is logged and replaced by a relist that triggers every key; the watcher
never retries it, and it overwrites the bad checkpoint with a good one."""

from __future__ import annotations

from pathlib import Path

import pytest

from flotilla.devcluster.env import DevEnvironment
from flotilla.runtime.kube import KubeClient
from schemas.bus.bootstrap import declare_bucket
from schemas.bus.envelope import EventType
from schemas.bus.streams import WATCHER_BUCKET, watcher_bucket
from tests.integration.watcher.harness import (
    ConfigMaps,
    TriggerCollector,
    WatchSetup,
    start_watcher,
    wait_ready,
)
from tests.support.polling import eventually_async
from watcher.checkpoint import parse_checkpoint
from watcher.config import WatcherConfig, load_file


@pytest.mark.parametrize(
    ("stored", "logged"),
    [
        (b"\xff\xfe\x00\x13garbage", "is unusable, ignoring it and relisting instead: not ASCII text"),
        (b'{"resourceVersion": "12"}', "is not a resourceVersion (a positive decimal integer)"),
        # well formed, but far ahead of etcd (as after an etcd restore): a watch from it would
        # hang in silence (kube-apiserver 1.36), so it is compared with the server's first
        (b"99999999999", "the checkpointed rv 99999999999 is ahead of the API server's current rv"),
    ],
    ids=["corrupt-bytes", "wrong-shape", "ahead-of-the-api-server"],
)
async def test_a_bad_checkpoint_is_logged_and_replaced_by_a_relist(
    stored: bytes,
    logged: str,
    dev_env: DevEnvironment,
    setup: WatchSetup,
    collector: TriggerCollector,
    kube: KubeClient,
    tmp_path: Path,
) -> None:
    cms = ConfigMaps(kube, setup)
    for i in range(3):
        await cms.create(f"cm-{i}")
    await declare_bucket(collector.js, watcher_bucket())
    kv = await collector.js.key_value(WATCHER_BUCKET)
    config = WatcherConfig(types=load_file(setup.config_path), namespaces=(setup.namespace,))
    keys = [stream.checkpoint_key(setup.lease_name, stream.namespace) for stream in config.streams()]
    assert len(keys) == 2  # the ConfigMap watch and the pod watch
    for key in keys:
        await kv.put(key, stored)

    watcher = start_watcher(dev_env, setup, tmp_path, "w1", "--checkpoint-interval=0.2")
    try:
        await wait_ready(watcher)
        # relisted: every ConfigMap triggered (as RESYNC), with no change made to any of them
        await collector.wait_for(
            lambda: all(collector.seen_rv(name, rv) for name, rv in cms.latest.items()),
            45,
            lambda: f"a trigger per ConfigMap after the relist\n{watcher.log_text()[-3000:]}",
        )
        assert {r.envelope.event_type for r in collector.received} == {EventType.RESYNC}
        log = watcher.log_text()
        # logged once per watch, naming why; then relisted, never retried with the bad value
        assert 1 <= log.count(logged) <= len(keys), log[-3000:]
        if stored != b"99999999999":
            assert all(key in log for key in keys)  # the log names each checkpoint it ignored

        # it watches on from the list: a change arrives as a watch event
        rv = await cms.change("cm-1")
        await collector.wait_for(lambda: collector.seen_rv("cm-1", rv), 30, "the change after the relist")
        assert collector.for_key("cm-1")[-1].envelope.event_type is EventType.MODIFIED

        # and the bad checkpoint is overwritten with a resourceVersion of this API server
        async def replaced() -> bool:
            entry = await kv.get(keys[0])
            if entry.value is None or entry.value == stored:
                return False
            return int(parse_checkpoint(entry.value)) >= int(rv)  # a good one, past the change

        await eventually_async(replaced, 20, interval=0.2, what="the bad checkpoint overwritten")
        assert watcher.alive()
    finally:
        watcher.stop()
