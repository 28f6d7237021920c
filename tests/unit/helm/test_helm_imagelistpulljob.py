"""The chart's ImageListPullJob worker: off by default like the ImagePullJob worker's; on, it runs
``flotilla worker imagelistpulljob`` with its own ServiceAccount and ClusterRole, and that role
grants the writes the worker's plans make (taken from real plans: a first pass, a replaced and a
removed child, a TTL deletion, a refused spec), the reads its ``observe`` makes, and nothing else
but the owner-reference finalizers and the dead-letter status update."""

from __future__ import annotations

from typing import Any

from tests.unit.helm.chart_render import named, render
from tests.unit.helm.test_helm_uniteddeployment import _allowed, _calls
from tests.unit.imagelistpulljob import test_imagelistpulljob_planner as tables
from workers.imagelistpulljob import worker
from workers.imagelistpulljob.planner import Observed

ON = {"workers.imagelistpulljob.enabled": True}


def _plan(job: dict[str, Any], children: list[dict[str, Any]], at: float = 0) -> set[tuple[str, str, str]]:
    snapshot = worker.Snapshot("ns", "list", Observed(job, children))
    return _calls(worker.plan(snapshot, worker.Config(), tables._at(at)))


def _planned_calls() -> set[tuple[str, str, str]]:
    fresh = tables._job()
    fresh["metadata"]["labels"] = {}
    calls = _plan(fresh, [tables._child(fresh, "reg.io/z:v1", "list-z")])
    done = tables._job(completionPolicy={"type": "Always", "ttlSecondsAfterFinished": 1})
    done["status"] = {"startTime": tables.T0, "completionTime": tables.T0}
    calls |= _plan(done, [], at=5)
    calls |= _plan(tables._job(("reg.io/a:v1", "reg.io/a:v1")), [])
    return calls


READS = {("apps.kruise.io", "imagelistpulljobs", "get"), ("apps.kruise.io", "imagepulljobs", "list")}


def test_imagelistpulljob_worker_is_off_by_default() -> None:
    objects = render({})
    assert not [o for o in objects if "imagelistpulljob" in o["metadata"]["name"]]
    watcher_rules = named(objects, "ClusterRole", "flotilla-watcher")["rules"]
    watched = {(g, r) for rule in watcher_rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("apps.kruise.io", "imagelistpulljobs") not in watched


def test_enabled_imagelistpulljob_worker_has_exactly_the_rbac_it_uses() -> None:
    objects = render(ON)
    deployment = named(objects, "Deployment", "flotilla-worker-imagelistpulljob")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker", "imagelistpulljob"]
    allowed = _allowed(named(objects, "ClusterRole", "flotilla-worker-imagelistpulljob")["rules"])
    used = _planned_calls() | READS
    assert ("apps.kruise.io", "imagepulljobs", "create") in used
    assert ("", "events", "create") in used
    assert used <= allowed, used - allowed
    assert allowed - used == {
        ("apps.kruise.io", "imagelistpulljobs/finalizers", "update"),
        ("apps.kruise.io", "imagelistpulljobs/status", "update"),
    }
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    types = next(e["value"] for e in watcher["env"] if e["name"] == "FLOTILLA_WATCH_TYPES")
    assert "imagelistpulljob" in types.split(",")
    watcher_rules = named(objects, "ClusterRole", "flotilla-watcher")["rules"]
    watched = {(g, r) for rule in watcher_rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("apps.kruise.io", "imagelistpulljobs"), ("apps.kruise.io", "imagepulljobs")} <= watched
