"""The chart's container-launch-priority worker: on by default (the webhook injects the barrier env
by default, and a prioritized container cannot start before the worker writes its key); it runs
``flotilla worker containerlaunchpriority`` with its own ServiceAccount and ClusterRole, and that
role grants the writes the worker's plans make (taken from real plans: a new barrier, the next
key, the completed mark), the reads its ``observe`` makes, and nothing else but the dead-letter
Event. The watcher watches pods for it."""

from __future__ import annotations

from tests.unit.containerlaunchpriority import test_containerlaunchpriority_planner as tables
from tests.unit.helm.chart_render import named, render
from tests.unit.helm.test_helm_uniteddeployment import _allowed, _calls
from workers.containerlaunchpriority import worker
from workers.runtime.snapshot import NoConfig

READS = {("", "pods", "get"), ("", "configmaps", "get")}


def _planned_calls() -> set[tuple[str, str, str]]:
    fresh = worker.plan(tables._snapshot(tables._six({}), None), NoConfig(), 0.0)
    last = tables._six({"a": True, "b": True, "c": True, "f": True})
    done = worker.plan(tables._snapshot(last, tables._barrier(5, 3, 0)), NoConfig(), 0.0)
    return _calls(fresh) | _calls(done)


def test_the_worker_is_on_by_default_with_exactly_the_rbac_it_uses() -> None:
    objects = render({})
    deployment = named(objects, "Deployment", "flotilla-worker-containerlaunchpriority")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker", "containerlaunchpriority"]
    allowed = _allowed(named(objects, "ClusterRole", "flotilla-worker-containerlaunchpriority")["rules"])
    used = _planned_calls() | READS
    assert {("", "configmaps", "create"), ("", "configmaps", "patch"), ("", "pods", "patch")} <= used
    assert used <= allowed, used - allowed
    # the dead-letter Event is the only grant no plan above makes
    assert allowed - used == {("", "events", "create"), ("", "events", "patch")}
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    types = next(e["value"] for e in watcher["env"] if e["name"] == "FLOTILLA_WATCH_TYPES")
    assert "containerlaunchpriority" in types.split(",")
    watcher_rules = named(objects, "ClusterRole", "flotilla-watcher")["rules"]
    watched = {(g, r) for rule in watcher_rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("", "pods") in watched


def test_it_can_be_turned_off() -> None:
    objects = render({"workers.containerlaunchpriority.enabled": False})
    assert not [o for o in objects if "containerlaunchpriority" in o["metadata"]["name"]]
