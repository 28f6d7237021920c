"""Which NATS subjects each Flotilla component may publish and subscribe to: the one table.

Pure data. nats-server users are made from it by :mod:`flotilla.devcluster.nats` (``flotilla dev
up`` and the tests) and by the Helm chart, which reads ``charts/flotilla/files/nats-permissions.json``
(``python -m schemas.bus.permissions`` writes it; a unit test checks the file is current).

Who declares what (least privilege, see docs/deploy.md "NATS users"):

* the **watcher** creates and corrects the streams (RECONCILE, DEADLETTER) and owns its
  checkpoint bucket; it publishes triggers for every type (nothing publishes the event log
  yet, so nobody but the admin may);
* a **worker** of type ``t`` creates and corrects only its own durable consumer
  (``worker-t``) and the shared lease / failure buckets; it may read the streams' info but not
  change them (started before the watcher, it reports ``bus`` not ready until the streams
  exist). It pulls only its consumer, acks only its consumer's messages, publishes only its
  own dead letters, requeue schedules (and their tombstones) and triggers, reads RECONCILE's
  messages (to see a pending requeue; it may not purge), and touches only its own keys
  (``t.<ns>.<name>``) in the lease and failure buckets;
* an **admin** user (no limits) is for operators and the tests.

Every client makes its requests with the inbox prefix :func:`inbox_prefix` gives it, so a
component can subscribe to its own replies and to nobody else's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from schemas.bus.streams import (
    DEADLETTER_STREAM,
    FAILURE_BUCKET,
    LEASE_BUCKET,
    RECONCILE_STREAM,
    WATCHER_BUCKET,
)
from schemas.bus.subjects import DEADLETTER_PREFIX, RECONCILE_PREFIX, REQUEUE_PREFIX

JS_API = "$JS.API"
#: The placeholder for a worker type in the chart's permission file.
TYPE_PLACEHOLDER = "{type}"

ADMIN_USER = "flotilla-admin"
WATCHER_USER = "flotilla-watcher"


def worker_user(worker_type: str) -> str:
    """The NATS user (and client name prefix) of a worker type's processes."""
    return f"flotilla-worker-{worker_type}"


def inbox_prefix(user: str) -> str:
    """The inbox prefix a component's client uses: replies to it land under ``<prefix>.>``."""
    return f"_INBOX.{user}"


@dataclass(frozen=True)
class Permissions:
    """Subjects a user may publish to and subscribe to (NATS wildcards allowed)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def as_nats(self) -> dict[str, dict[str, list[str]]]:
        """The ``permissions`` block of a nats-server user (JSON is valid NATS config)."""
        return {"publish": {"allow": list(self.publish)}, "subscribe": {"allow": list(self.subscribe)}}


def _stream_admin(stream: str) -> tuple[str, ...]:
    return tuple(f"{JS_API}.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE"))


def _kv(bucket: str, keys: str = ">") -> tuple[str, ...]:
    """Read and write ``keys`` of a KV bucket (put/create/update/delete/purge publish to $KV)."""
    stream = f"KV_{bucket}"
    return (
        f"$KV.{bucket}.{keys}",
        f"{JS_API}.DIRECT.GET.{stream}.$KV.{bucket}.{keys}",
        f"{JS_API}.STREAM.MSG.GET.{stream}",
    )


def watcher_permissions() -> Permissions:
    return Permissions(
        publish=(
            f"{RECONCILE_PREFIX}.>",
            *_stream_admin(RECONCILE_STREAM),
            *_stream_admin(DEADLETTER_STREAM),
            *_stream_admin(f"KV_{WATCHER_BUCKET}"),
            *_kv(WATCHER_BUCKET),
        ),
        subscribe=(f"{inbox_prefix(WATCHER_USER)}.>",),
    )


def worker_permissions(worker_type: str) -> Permissions:
    """What a worker of ``worker_type`` may do (``{type}`` gives the chart's template)."""
    durable = f"worker-{worker_type}"
    return Permissions(
        publish=(
            f"{JS_API}.CONSUMER.MSG.NEXT.{RECONCILE_STREAM}.{durable}",
            f"$JS.ACK.{RECONCILE_STREAM}.{durable}.>",
            f"{JS_API}.CONSUMER.INFO.{RECONCILE_STREAM}.{durable}",
            f"{JS_API}.CONSUMER.CREATE.{RECONCILE_STREAM}.{durable}",
            f"{JS_API}.CONSUMER.CREATE.{RECONCILE_STREAM}.{durable}.>",
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{RECONCILE_STREAM}.{durable}",
            f"{JS_API}.STREAM.INFO.{RECONCILE_STREAM}",
            f"{JS_API}.STREAM.INFO.{DEADLETTER_STREAM}",
            # Reading a key's pending requeue before cancelling it (workers.runtime.requeue):
            # read-only; a purge would let these credentials wipe every trigger.
            f"{JS_API}.STREAM.MSG.GET.{RECONCILE_STREAM}",
            f"{DEADLETTER_PREFIX}.{worker_type}.>",
            f"{REQUEUE_PREFIX}.{worker_type}.>",
            f"{RECONCILE_PREFIX}.{worker_type}.>",
            *_stream_admin(f"KV_{LEASE_BUCKET}"),
            *_stream_admin(f"KV_{FAILURE_BUCKET}"),
            *_kv(LEASE_BUCKET, f"{worker_type}.>"),
            *_kv(FAILURE_BUCKET, f"{worker_type}.>"),
        ),
        subscribe=(f"{inbox_prefix(worker_user(worker_type))}.>",),
    )


def users(worker_types: tuple[str, ...]) -> dict[str, Permissions | None]:
    """Every Flotilla user and its permissions; ``None`` means unrestricted (the admin)."""
    table: dict[str, Permissions | None] = {ADMIN_USER: None, WATCHER_USER: watcher_permissions()}
    for worker_type in worker_types:
        table[worker_user(worker_type)] = worker_permissions(worker_type)
    return table


def chart_permissions_json() -> str:
    """``charts/flotilla/files/nats-permissions.json``: the watcher's and a worker's blocks."""
    document = {
        "watcher": {"user": WATCHER_USER, "permissions": watcher_permissions().as_nats()},
        "worker": {
            "user": worker_user(TYPE_PLACEHOLDER),
            "permissions": worker_permissions(TYPE_PLACEHOLDER).as_nats(),
        },
    }
    return json.dumps(document, indent=2) + "\n"


if __name__ == "__main__":  # python -m schemas.bus.permissions > charts/flotilla/files/nats-permissions.json
    print(chart_permissions_json(), end="")
