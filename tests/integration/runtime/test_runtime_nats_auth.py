"""The dev NATS server's users, on the real server the session runs: a worker's credentials
are refused on the watcher's bucket and on another type's consumer, an anonymous client and a
wrong password are refused, and what a worker needs for its own type is allowed; a worker
started before the watcher waits (not ready, saying why) until the watcher's user has declared
the streams.

The users and their permissions come from schemas.bus.permissions (written to the server's
config by flotilla/devcluster/nats.py); what counts as refused here is the server's own
answer: a "Permissions Violation" error naming the subject, and the objects left unchanged
(read back with the admin's credentials).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.nats import NatsServer
from schemas.bus.bootstrap import declare
from schemas.bus.envelope import make_key
from schemas.bus.permissions import WATCHER_USER, inbox_prefix, worker_user
from schemas.bus.streams import (
    RECONCILE_STREAM,
    WATCHER_BUCKET,
    BusSpec,
    watcher_bucket,
    watcher_bus,
    worker_bus,
    worker_consumer,
)
from schemas.bus.subjects import deadletter_subject, reconcile_subject, requeue_subject_for_key
from tests.support.natsworker import NatsWorker, nats_workers
from tests.support.polling import eventually
from tests.support.workers import publish_trigger

__all__ = ["nats_workers"]

pytestmark = pytest.mark.asyncio

REFUSAL_WAIT = 2.0  # seconds a refused request waits for the answer that never comes


def _server(dev_env: DevEnvironment) -> NatsServer:
    if dev_env.nats is None:
        raise AssertionError(
            "these tests need the NATS server the test session starts (its users and passwords); "
            "USE_EXISTING_CLUSTER=true gives none"
        )
    return dev_env.nats


class Client:
    """A client signed in as one user, recording the errors the server sends it."""

    def __init__(self, nc: NATS, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors
        self.js: JetStreamContext = nc.jetstream(timeout=REFUSAL_WAIT)

    def refused(self, subject: str) -> bool:
        """The server said no to ``subject`` (nats.py lowercases the server's -ERR text)."""
        wanted = f'permissions violation for publish to "{subject}"'.lower()
        return any(wanted in error.lower() for error in self.errors)


async def _sign_in(url: str, user: str) -> Client:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        url, inbox_prefix=inbox_prefix(user), error_cb=on_error, connect_timeout=5, allow_reconnect=False
    )
    return Client(nc, errors)


@pytest.fixture
async def worker_client(dev_env: DevEnvironment) -> AsyncIterator[Client]:
    user = worker_user("cloneset")
    client = await _sign_in(_server(dev_env).user_url(user), user)
    try:
        yield client
    finally:
        await client.nc.close()


async def _until_refused(client: Client, subject: str) -> None:
    for _ in range(50):
        if client.refused(subject):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no Permissions Violation for {subject!r}; errors seen: {client.errors}")


async def test_anonymous_client_and_wrong_password_refused(dev_env: DevEnvironment) -> None:
    server = _server(dev_env)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.anonymous_url, allow_reconnect=False, connect_timeout=5)
    wrong = f"nats://{WATCHER_USER}:not-the-password@127.0.0.1:{server.port}"
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(wrong, allow_reconnect=False, connect_timeout=5)


async def test_worker_refused_on_the_watchers_bucket(
    worker_client: Client, jetstream: JetStreamContext
) -> None:
    await declare(jetstream, BusSpec(buckets=(watcher_bucket(),)))
    checkpoints = await jetstream.key_value(WATCHER_BUCKET)
    key = f"natsauth-{secrets.token_hex(4)}.core.pods.0"
    await checkpoints.put(key, b"1000")

    with pytest.raises(TimeoutError):
        await worker_client.js.key_value(WATCHER_BUCKET)
    await _until_refused(worker_client, f"$JS.API.STREAM.INFO.KV_{WATCHER_BUCKET}")

    with pytest.raises(TimeoutError):
        await worker_client.js.publish(f"$KV.{WATCHER_BUCKET}.{key}", b"1")
    await _until_refused(worker_client, f"$KV.{WATCHER_BUCKET}.{key}")

    get = f"$JS.API.DIRECT.GET.KV_{WATCHER_BUCKET}.$KV.{WATCHER_BUCKET}.{key}"
    with pytest.raises(TimeoutError):
        await worker_client.nc.request(get, b"", timeout=REFUSAL_WAIT)
    await _until_refused(worker_client, get)

    assert (await checkpoints.get(key)).value == b"1000"  # the admin reads it back unchanged


async def test_worker_refused_on_another_types_consumer(
    worker_client: Client, jetstream: JetStreamContext
) -> None:
    other = f"x{secrets.token_hex(4)}"
    await declare(jetstream, worker_bus(other))
    await declare(jetstream, worker_bus("cloneset"))
    await publish_trigger(jetstream, "default", "victim", worker_type=other)
    durable = worker_consumer(other).durable_name
    try:
        sub = await worker_client.js.pull_subscribe_bind(durable=durable, stream=RECONCILE_STREAM)
        with pytest.raises(TimeoutError):
            await sub.fetch(1, timeout=REFUSAL_WAIT)
        await _until_refused(worker_client, f"$JS.API.CONSUMER.MSG.NEXT.{RECONCILE_STREAM}.{durable}")

        # Nor may it forge the other type's triggers or dead letters, or remove the stream.
        for subject in (
            reconcile_subject(other, "default", "forged"),
            deadletter_subject(other, "default", "victim"),
        ):
            with pytest.raises(TimeoutError):
                await worker_client.js.publish(subject, b"forged")
            await _until_refused(worker_client, subject)
        with pytest.raises(TimeoutError):
            await worker_client.js.delete_stream(RECONCILE_STREAM)
        await _until_refused(worker_client, f"$JS.API.STREAM.DELETE.{RECONCILE_STREAM}")
        with pytest.raises(TimeoutError):  # nor wipe every trigger (it cancels requeues without)
            await worker_client.js.purge_stream(RECONCILE_STREAM)
        await _until_refused(worker_client, f"$JS.API.STREAM.PURGE.{RECONCILE_STREAM}")
        others_requeue = requeue_subject_for_key(make_key(other, "default", "victim"))
        with pytest.raises(TimeoutError):  # nor schedule another type's requeues
            await worker_client.js.publish(others_requeue, b"x")
        await _until_refused(worker_client, others_requeue)

        info = await jetstream.consumer_info(RECONCILE_STREAM, durable)
        assert (info.num_pending, info.num_ack_pending) == (1, 0)  # the trigger waits, untouched

        # What it needs for its own type it may do (no message taken from a running test).
        refusals = len(worker_client.errors)
        await worker_client.js.consumer_info(RECONCILE_STREAM, worker_consumer("cloneset").durable_name)
        await worker_client.js.stream_info(RECONCILE_STREAM)
        assert worker_client.errors[refusals:] == []
    finally:
        await jetstream.delete_consumer(RECONCILE_STREAM, durable)


async def test_a_worker_started_before_the_watcher_waits_for_the_streams(
    dev_env: DevEnvironment, tmp_path: Path, nats_workers: list[NatsWorker]
) -> None:
    """Least privilege decides who declares: the worker may not create the streams, says so on
    /readyz, and becomes ready once the watcher's user has created them (a private server, so
    the streams really are missing)."""
    server = NatsServer(tmp_path / "fresh-nats")
    server.start()
    try:
        user = worker_user("cloneset")
        worker = NatsWorker(dev_env.kubeconfig, tmp_path / "early.log", server.user_url(user), {})
        nats_workers.append(worker)
        waiting = eventually(lambda: worker.readyz_mentions("may not create it"), 90, what=worker.log_text)
        assert "'RECONCILE' does not exist" in waiting
        watcher = await nats.connect(server.user_url(WATCHER_USER), inbox_prefix=inbox_prefix(WATCHER_USER))
        try:
            await declare(watcher.jetstream(), watcher_bus(with_event_log=False))  # as the watcher does
        finally:
            await watcher.close()
        eventually(lambda: worker.readyz_mentions('"bus":{"ready":true'), 90, what=worker.log_text)
        admin = await nats.connect(server.url)
        try:
            info = await admin.jetstream().consumer_info(
                RECONCILE_STREAM, worker_consumer("cloneset").durable_name
            )
            assert info.config.filter_subject == "flotilla.reconcile.cloneset.>"  # the worker made its own
        finally:
            await admin.close()
    finally:
        worker.stop()
        server.stop()
