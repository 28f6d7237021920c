"""Subject and KV key naming: shapes, round trips, refusals."""

from __future__ import annotations

import pytest

from schemas.bus.envelope import EventType, make_key
from schemas.bus.subjects import (
    SubjectError,
    deadletter_subject,
    eventlog_subject,
    key_from_subject,
    lease_key,
    msg_id,
    reconcile_filter,
    reconcile_subject,
    reconcile_subject_for_key,
    requeue_subject_for_key,
)


def test_reconcile_subject_shape() -> None:
    assert reconcile_subject("cloneset", "default", "web") == "flotilla.reconcile.cloneset.default.web"
    assert reconcile_filter("cloneset") == "flotilla.reconcile.cloneset.>"
    key = make_key("cloneset", "default", "web")
    assert requeue_subject_for_key(key) == "flotilla.requeue.cloneset.default.web"


@pytest.mark.parametrize(
    ("namespace", "name"), [("default", "web"), ("", "node-1"), ("kube-system", "kube-root-ca.crt")]
)
def test_subject_round_trips_to_key(namespace: str, name: str) -> None:
    key = make_key("testcm", namespace, name)
    assert reconcile_subject_for_key(key).startswith("flotilla.reconcile.testcm.")
    assert requeue_subject_for_key(key) == "flotilla.requeue." + reconcile_subject_for_key(key)[19:]
    assert key_from_subject(reconcile_subject("testcm", namespace, name)) == key
    assert key_from_subject(deadletter_subject("testcm", namespace, name)) == key


def test_cluster_scope_placeholder() -> None:
    assert reconcile_subject("nodeimage", "", "n1") == "flotilla.reconcile.nodeimage._.n1"
    assert lease_key(make_key("nodeimage", "", "n1")) == "nodeimage._.n1"


@pytest.mark.parametrize(
    ("worker_type", "namespace", "name"),
    [
        ("CloneSet", "default", "web"),
        ("cloneset", "a b", "web"),
        ("cloneset", "ns", "we*b"),
        ("c", "ns", "a..b"),
    ],
)
def test_refuses_names_that_break_subjects(worker_type: str, namespace: str, name: str) -> None:
    with pytest.raises(SubjectError):
        reconcile_subject(worker_type, namespace, name)


def test_key_from_subject_refuses_other_subjects() -> None:
    with pytest.raises(SubjectError):
        key_from_subject("flotilla.events.pod.default.x")


def test_eventlog_subject_lowercases_kind() -> None:
    assert eventlog_subject("CloneSet", "ns", "web") == "flotilla.events.cloneset.ns.web"


def test_msg_id_differs_per_key_and_event() -> None:
    a = msg_id(make_key("t", "ns", "a"), "uid", "5", EventType.MODIFIED)
    assert a != msg_id(make_key("t", "ns", "b"), "uid", "5", EventType.MODIFIED)
    assert a != msg_id(make_key("t", "ns", "a"), "uid", "5", EventType.DELETED)
