"""The NATS permission table: each component's subjects, matched the way nats-server matches.

Expected subjects come from the naming functions the runtime uses (schemas.bus.subjects,
streams) and from nats.py's own subject layout for JetStream and KV calls, not from the table.
The chart's copy of the table (charts/flotilla/files/nats-permissions.json) must be current.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.bus.envelope import make_key
from schemas.bus.permissions import (
    Permissions,
    chart_permissions_json,
    inbox_prefix,
    users,
    watcher_permissions,
    worker_permissions,
    worker_user,
)
from schemas.bus.streams import FAILURE_BUCKET, LEASE_BUCKET, WATCHER_BUCKET
from schemas.bus.subjects import (
    deadletter_subject,
    deadletter_subject_for_unreadable,
    lease_key,
    reconcile_subject,
)

CHART_FILE = Path(__file__).resolve().parents[3] / "charts" / "flotilla" / "files" / "nats-permissions.json"


def matches(pattern: str, subject: str) -> bool:
    """nats-server's subject match: ``*`` one token, ``>`` one or more trailing tokens."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


def may_publish(perms: Permissions, subject: str) -> bool:
    return any(matches(p, subject) for p in perms.publish)


def cloneset_subjects(worker_type: str) -> list[str]:
    """What a worker of ``worker_type`` sends for its own keys (runtime naming + nats.py's API)."""
    key = make_key(worker_type, "ns1", "web.v2")
    kv_key = lease_key(key)
    durable = f"worker-{worker_type}"
    return [
        f"$JS.API.CONSUMER.MSG.NEXT.RECONCILE.{durable}",
        f"$JS.ACK.RECONCILE.{durable}.1.42.17.1732890000000000000.3",
        f"$JS.API.CONSUMER.INFO.RECONCILE.{durable}",
        f"$JS.API.CONSUMER.CREATE.RECONCILE.{durable}.flotilla.reconcile.{worker_type}.>",
        deadletter_subject(worker_type, "ns1", "web.v2"),
        deadletter_subject_for_unreadable(worker_type),
        reconcile_subject(worker_type, "ns1", "web.v2"),
        f"$KV.{LEASE_BUCKET}.{kv_key}",
        f"$KV.{FAILURE_BUCKET}.{kv_key}",
        f"$JS.API.DIRECT.GET.KV_{FAILURE_BUCKET}.$KV.{FAILURE_BUCKET}.{kv_key}",
        f"$JS.API.STREAM.INFO.KV_{LEASE_BUCKET}",
        "$JS.API.STREAM.INFO.RECONCILE",
    ]


def test_a_worker_may_send_what_its_own_type_needs() -> None:
    perms = worker_permissions("cloneset")
    refused = [s for s in cloneset_subjects("cloneset") if not may_publish(perms, s)]
    assert refused == []


def test_a_worker_may_send_nothing_of_another_type() -> None:
    perms = worker_permissions("cloneset")
    allowed = [s for s in cloneset_subjects("sidecarset") if may_publish(perms, s)]
    # Only the shared, read-only stream and bucket info calls are the same for every type.
    assert allowed == [f"$JS.API.STREAM.INFO.KV_{LEASE_BUCKET}", "$JS.API.STREAM.INFO.RECONCILE"]


@pytest.mark.parametrize(
    "subject",
    [
        f"$KV.{WATCHER_BUCKET}.scope.core.pods.abc",
        f"$JS.API.STREAM.INFO.KV_{WATCHER_BUCKET}",
        "$JS.API.STREAM.CREATE.RECONCILE",
        "$JS.API.STREAM.UPDATE.RECONCILE",
        "$JS.API.STREAM.DELETE.RECONCILE",
        "$JS.API.STREAM.PURGE.RECONCILE",
        "$JS.API.CONSUMER.DELETE.RECONCILE.worker-cloneset",
        "flotilla.events.pod.ns1.p",
    ],
)
def test_a_worker_may_not_touch_the_watchers_objects_or_remove_streams(subject: str) -> None:
    assert not may_publish(worker_permissions("cloneset"), subject)


def test_the_watcher_publishes_triggers_and_owns_its_bucket_only() -> None:
    perms = watcher_permissions()
    for subject in (
        reconcile_subject("cloneset", "ns1", "web"),
        reconcile_subject("sidecarset", "", "inject"),
        f"$KV.{WATCHER_BUCKET}.scope.core.pods.abc",
        "$JS.API.STREAM.CREATE.RECONCILE",
        "$JS.API.STREAM.UPDATE.DEADLETTER",
    ):
        assert may_publish(perms, subject), subject
    for subject in (
        "$JS.API.CONSUMER.MSG.NEXT.RECONCILE.worker-cloneset",
        f"$KV.{LEASE_BUCKET}.cloneset.ns1.web",
        deadletter_subject("cloneset", "ns1", "web"),
        "$JS.API.STREAM.DELETE.RECONCILE",
    ):
        assert not may_publish(perms, subject), subject


def test_each_user_subscribes_to_its_own_inbox_only() -> None:
    table = users(("cloneset", "sidecarset"))
    assert table["flotilla-admin"] is None
    for user, perms in table.items():
        if perms is None:
            continue
        assert perms.subscribe == (f"{inbox_prefix(user)}.>",)
        others = [u for u in table if u != user]
        assert not any(matches(perms.subscribe[0], f"{inbox_prefix(o)}.abc.1") for o in others)
        assert not matches(perms.subscribe[0], "_INBOX.abc.1")  # nats.py's default inbox
    assert worker_user("cloneset") in table


def test_the_charts_copy_is_current() -> None:
    assert CHART_FILE.read_text() == chart_permissions_json(), (
        "regenerate: python -m schemas.bus.permissions > charts/flotilla/files/nats-permissions.json"
    )
