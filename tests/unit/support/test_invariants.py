"""The fault-test ledger (tests/support/invariants.py), fed hand-written watch events: the bound is
replicas + maxSurge (kruise's int-or-percent, rounded up), widened while a scale-down converges;
orphans and pods of a replaced CloneSet are violations; creations are counted by CloneSet and image.
Also the audit-log overlap check on a hand-written log."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.invariants import AuditLog, Ledger, NamespaceWatch, audit_overlaps, surge_of


def cs(name: str, replicas: int, surge: int | str = 1, uid: str = "u1", *, done: bool = False) -> dict:  # type: ignore[type-arg]
    status = {
        "observedGeneration": 1,
        "replicas": replicas,
        "readyReplicas": replicas,
        "updatedReplicas": replicas,
    }
    return {
        "metadata": {"name": name, "uid": uid, "generation": 1, "resourceVersion": "1"},
        "spec": {"replicas": replicas, "updateStrategy": {"maxSurge": surge}},
        "status": status if done else {},
    }


def pod(
    name: str, owner: str | None = "web", uid_of_owner: str = "u1", image: str = "a", deleting: bool = False
) -> dict:  # type: ignore[type-arg]
    meta: dict = {"name": name, "uid": f"p-{name}", "resourceVersion": "2"}  # type: ignore[type-arg]
    if owner:
        meta["ownerReferences"] = [
            {"kind": "CloneSet", "name": owner, "uid": uid_of_owner, "controller": True}
        ]
    if deleting:
        meta["deletionTimestamp"] = "now"
    return {"metadata": meta, "spec": {"containers": [{"image": image}]}}


def test_surge_resolves_int_or_percent_rounded_up() -> None:
    assert surge_of({"replicas": 10, "updateStrategy": {"maxSurge": "25%"}}) == 3
    assert surge_of({"replicas": 10, "updateStrategy": {"maxSurge": 2}}) == 2
    assert surge_of({"replicas": 10}) == 0


def test_live_pods_over_replicas_plus_surge_is_a_violation() -> None:
    ledger = Ledger()
    ledger.cloneset("ADDED", cs("web", 2, surge=1))
    for i in range(3):
        ledger.pod("ADDED", pod(f"web-{i}"))
    assert ledger.violations == []
    ledger.pod("ADDED", pod("web-3"))
    assert len(ledger.violations) == 1
    assert "4 live pods" in ledger.violations[0]
    assert ledger.created[("web", "a")] == 4


def test_terminating_pods_do_not_count_and_scale_down_widens_until_settled() -> None:
    ledger = Ledger()
    ledger.cloneset("ADDED", cs("web", 3, surge=0, done=True))
    for i in range(3):
        ledger.pod("ADDED", pod(f"web-{i}"))
    ledger.cloneset("MODIFIED", cs("web", 1, surge=0))  # not settled yet: bound stays 3
    ledger.pod("MODIFIED", pod("web-0"))
    assert ledger.violations == []
    ledger.pod("MODIFIED", pod("web-1", deleting=True))
    ledger.pod("DELETED", pod("web-2"))
    ledger.cloneset("MODIFIED", cs("web", 1, surge=0, done=True))
    assert ledger.live_of("web") == 1
    ledger.pod("ADDED", pod("web-9"))
    assert len(ledger.violations) == 1  # 2 live > 1 + 0 once settled


def test_orphans_and_pods_of_another_uid_are_violations() -> None:
    ledger = Ledger()
    ledger.cloneset("ADDED", cs("web", 5))
    ledger.pod("ADDED", pod("stray", owner=None))
    ledger.pod("ADDED", pod("web-x", uid_of_owner="old"))
    assert len(ledger.violations) == 2
    assert ledger.created[("", "a")] == 1


A = "flotilla-worker-cloneset/host-101 reconcile/"
B = "flotilla-worker-cloneset/host-202 reconcile/"


def _entry(agent: str, resource: str, name: str, received: str, committed: str, code: int = 200) -> str:
    """One ResponseComplete audit event as kube-apiserver writes it (compact JSON, one line)."""
    ref = {"resource": resource, "namespace": "ns", "name": name, "apiVersion": "v1"}
    if resource == "clonesets/status":
        ref.update(resource="clonesets", subresource="status")
    return json.dumps(
        {
            "kind": "Event",
            "stage": "ResponseComplete",
            "verb": "patch",
            "userAgent": agent,
            "objectRef": ref,
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": f"2026-01-01T00:00:{received}Z",
            "stageTimestamp": f"2026-01-01T00:00:{committed}Z",
        },
        separators=(",", ":"),
    )


def _write(path: Path, *entries: str) -> Path:
    path.write_text("".join(e + "\n" for e in entries))
    return path


def test_audit_flags_two_processes_committing_to_one_cloneset_at_once(tmp_path: Path) -> None:
    # host-101's reconcile r1 commits at 01.0 and 05.0; host-202's r2 commits a pod of web at 03.0
    log = _write(
        tmp_path / "audit.log",
        _entry(A + "r1", "pods", "web-abcde", "00.900000", "01.000000", 201),
        _entry(B + "r2", "pods", "web-fghij", "02.900000", "03.000000", 201),
        _entry(A + "r1", "clonesets/status", "web", "04.900000", "05.000000"),
    )
    seen, found = audit_overlaps(log, "ns")
    assert seen == 2
    assert len(found) == 1
    assert "r2 of host-202 committed from 2026-01-01T00:00:03" in found[0]
    assert "r1 of host-101 committed until 2026-01-01T00:00:05" in found[0]


def test_audit_does_not_flag_sequential_writers_refused_writes_or_one_process(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "audit.log",
        # a hand-over: host-101 commits until 02.0, host-202 starts at 02.5 (its request was
        # received at 01.5, while host-101 still wrote: only commits count)
        _entry(A + "r1", "pods", "web-abcde", "00.900000", "01.000000", 201),
        _entry(A + "r1", "clonesets/status", "web", "01.900000", "02.000000"),
        _entry(B + "r2", "pods", "web-fghij", "01.500000", "02.500000", 201),
        _entry(B + "r2", "clonesets/status", "web", "03.000000", "04.000000"),
        # writes the server refused do not count: a 409 and a 504 of host-101 inside r2's span
        _entry(A + "r3", "pods", "web-abcde", "02.600000", "02.700000", 409),
        _entry(A + "r3", "pods", "web-klmno", "02.600000", "03.500000", 504),
        # one process's own reconciles of a key, back to back and even interleaved, are not compared
        _entry(B + "r4", "pods", "web-pqrst", "03.100000", "03.200000", 201),
        # another CloneSet (db), another namespace, the test's own writes, events: not compared
        _entry(A + "r5", "clonesets", "db", "02.000000", "03.000000"),
        _entry("flotilla-tests", "clonesets", "web", "02.000000", "03.000000"),
        _entry(A + "r6", "events", "web.123", "02.000000", "03.000000", 201),
        _entry(A + "r7", "pods", "web-uvwxy", "02.000000", "03.000000", 201).replace('"ns"', '"other"'),
    )
    seen, found = audit_overlaps(log, "ns")
    assert found == []
    assert seen == 4  # r1, r2, r4 on web; r5 on db


def test_audit_log_is_read_incrementally_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    audit = AuditLog(log)
    _write(log, _entry(A + "r1", "pods", "web-abcde", "00.900000", "01.000000", 201))
    assert [w.reconcile for w in audit.writes("ns")] == ["r1"]
    log.rename(tmp_path / "audit-2026-01-01T00-00-02.000.log")  # what --audit-log-maxsize does
    _write(log, _entry(B + "r2", "pods", "web-fghij", "02.900000", "03.000000", 201))
    with log.open("a") as partial:
        partial.write(_entry(B + "r3", "pods", "web-klmno", "03.900000", "04.000000", 201)[:40])
    assert [w.reconcile for w in audit.writes("ns")] == ["r2"]  # r1 not again, r3 not yet whole
    assert audit.writes("ns") == []


def test_settled_counts_a_partition_as_at_most_that_many_old_pods() -> None:
    from tests.support.invariants import settled

    done = cs("web", 4, done=True)
    done["spec"]["updateStrategy"]["partition"] = 2
    assert settled(done)  # all 4 updated already: a partition does not roll pods back
    done["status"]["updatedReplicas"] = 2
    assert settled(done)
    done["status"]["updatedReplicas"] = 1
    assert not settled(done)


def _at(obj: dict, rv: int) -> dict:  # type: ignore[type-arg]
    obj["metadata"]["resourceVersion"] = str(rv)
    return obj


def test_a_relist_deletes_pods_whose_added_event_was_still_buffered() -> None:
    """The pod watch ran ahead of the CloneSet watch (its events wait for the CloneSet watch to reach
    their resourceVersion); then the API server restarted and a pod seen only in the buffer was
    deleted in the gap: the relist must count it gone, or it stays live in the ledger forever (a
    false surge violation on every later event of its CloneSet)."""
    watch = NamespaceWatch(api=None, namespace="ns")  # type: ignore[arg-type]  # no I/O in apply_relist
    watch._push("cs", "ADDED", _at(cs("web", 2, surge=0), 5))
    watch._progress["cs"] = 5
    watch._push("pod", "ADDED", _at(pod("web-a"), 6))
    watch._push("pod", "ADDED", _at(pod("web-b"), 7))
    watch._progress["pod"] = 7
    watch._drain()
    assert watch.ledger.live == {}  # both pods wait for the CloneSet watch to reach rv 7

    listing = {"metadata": {"resourceVersion": "20"}, "items": [_at(pod("web-a"), 6)]}
    watch.apply_relist("pod", listing)  # web-b was deleted while the API server was away
    watch._progress["cs"] = 20  # the CloneSet watch catches up (a bookmark)
    watch._drain()

    assert watch.ledger.live == {"p-web-a": "web"}
    assert watch.ledger.violations == []
    assert watch.ledger.created[("web", "a")] == 2  # both were created
