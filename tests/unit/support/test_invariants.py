"""The fault-test ledger (tests/support/invariants.py), fed hand-written watch events: the bound is
replicas + maxSurge (kruise's int-or-percent, rounded up), widened while a scale-down converges;
orphans and pods of a replaced CloneSet are violations; creations are counted by CloneSet and image.
Also the audit-log overlap check on a hand-written log."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.invariants import Ledger, audit_overlaps, surge_of


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


def _audit(path: Path, entries: list[tuple[str, str, str, str, str]]) -> None:
    lines = []
    for agent, resource, name, start, end in entries:
        lines.append(
            json.dumps(
                {
                    "userAgent": agent,
                    "objectRef": {"resource": resource, "namespace": "ns", "name": name},
                    "requestReceivedTimestamp": f"2026-01-01T00:00:{start}Z",
                    "stageTimestamp": f"2026-01-01T00:00:{end}Z",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def test_audit_overlap_of_two_reconciles_of_one_cloneset(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    a, b = "flotilla-worker-cloneset/h-1 reconcile/r1", "flotilla-worker-cloneset/h-2 reconcile/r2"
    _audit(log, [(a, "pods", "web-abcde", "01", "02"), (a, "clonesets", "web", "05", "06"),
                 (b, "pods", "web-fghij", "07", "08"), (b, "clonesets", "other", "01", "09")])  # fmt: skip
    assert audit_overlaps(log, "ns") == (3, [])
    _audit(log, [(a, "pods", "web-abcde", "01", "02"), (a, "clonesets", "web", "05", "06"),
                 (b, "pods", "web-fghij", "04", "08")])  # fmt: skip
    seen, found = audit_overlaps(log, "ns")
    assert seen == 2
    assert len(found) == 1
    assert "r2" in found[0]


def test_settled_counts_a_partition_as_at_most_that_many_old_pods() -> None:
    from tests.support.invariants import settled

    done = cs("web", 4, done=True)
    done["spec"]["updateStrategy"]["partition"] = 2
    assert settled(done)  # all 4 updated already: a partition does not roll pods back
    done["status"]["updatedReplicas"] = 2
    assert settled(done)
    done["status"]["updatedReplicas"] = 1
    assert not settled(done)
