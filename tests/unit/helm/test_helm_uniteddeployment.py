"""The chart's UnitedDeployment worker: on by default (off with its `enabled`), it runs
``flotilla worker uniteddeployment`` with its own ServiceAccount and ClusterRole, and that role
grants the writes the worker's plans make (taken from real planner plans of every template kind
and of a reservation pass, not from the values file), the reads its ``observe`` makes, and
nothing else but the owner-reference finalizers and the dead-letter patch."""

from __future__ import annotations

from typing import Any

from tests.unit.helm.chart_render import named, render
from tests.unit.uniteddeployment import test_planner as tables
from tests.unit.uniteddeployment import test_reservation as reserving
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan
from workers.uniteddeployment.planner import ObservedUnitedDeployment, plan
from workers.uniteddeployment.subsets import KINDS


def _allowed(rules: list[dict[str, list[str]]]) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def _calls(p: Plan) -> set[tuple[str, str, str]]:
    calls: set[tuple[str, str, str]] = set()
    for action in p.actions:
        match action:
            case runtime.CreateObject(resource, _, _):
                calls.add((resource.group, resource.plural, "create"))
            case runtime.PatchObject(resource, _, _, _, _, subresource):
                plural = f"{resource.plural}/{subresource}" if subresource else resource.plural
                calls.add((resource.group, plural, "patch"))
            case runtime.DeleteObject(resource, _, _, _, _):
                calls.add((resource.group, resource.plural, "delete"))
            case runtime.UpdateStatus(resource, _, _, _):
                calls.add((resource.group, f"{resource.plural}/status", "update"))
            case runtime.EmitEvent():
                calls.update({("", "events", "create"), ("", "events", "patch")})
    return calls


def _planned_calls() -> set[tuple[str, str, str]]:
    """Every kind: the first pass (create), a scale (patch), a removed subset (delete), a refusal."""
    calls: set[tuple[str, str, str]] = set()
    base = tables._ud()
    template = base["spec"]["template"]["cloneSetTemplate"]
    for kind in KINDS:
        ud: dict[str, Any] = {**base, "spec": {**base["spec"], "template": {kind.template_field: template}}}
        first = plan(ObservedUnitedDeployment(ud), tables.NOW)
        calls |= _calls(first)
        revs = [
            a.body
            for a in first.actions
            if isinstance(a, runtime.CreateObject) and a.resource.kind != kind.resource.kind
        ]
        made = [
            {**a.body, "metadata": {**a.body["metadata"], "name": f"w{i}", "uid": f"u{i}"}}
            for i, a in enumerate(first.actions)
            if isinstance(a, runtime.CreateObject) and a.resource == kind.resource
        ]
        observed = {kind.type_name: tuple(made)}
        scaled = {**ud, "spec": {**ud["spec"], "replicas": 9}}
        calls |= _calls(plan(ObservedUnitedDeployment(scaled, tuple(revs), observed), tables.NOW))
        fewer = {
            **ud,
            "spec": {
                **ud["spec"],
                "topology": {"subsets": ud["spec"]["topology"]["subsets"][::2]},
                "updateStrategy": {"type": "Manual", "manualUpdate": {}},
            },
        }
        calls |= _calls(plan(ObservedUnitedDeployment(fewer, tuple(revs), observed), tables.NOW))
    calls |= _calls(
        plan(ObservedUnitedDeployment({**base, "spec": {**base["spec"], "replicas": 1}}), tables.NOW)
    )
    # reserveUnschedulablePods: the reserved-pod label written on pods
    calls |= _calls(reserving.reservation_pass()[0])

    # a rollback renumbers the older equal revision; revisions beyond the limit are deleted
    def revision(name: str, number: int, template: object) -> dict[str, Any]:
        owner = [{"uid": "ud-uid", "controller": True}]
        data = {"spec": {"template": template}}
        return {"metadata": {"name": name, "ownerReferences": owner}, "revision": number, "data": data}

    equal = revision("web-1", 1, base["spec"]["template"])
    other = revision("web-2", 2, {"x": 1})
    calls |= _calls(plan(ObservedUnitedDeployment(base, (equal, other)), tables.NOW))
    limited = {**base, "spec": {**base["spec"], "revisionHistoryLimit": 1}}
    calls |= _calls(
        plan(ObservedUnitedDeployment(limited, (other, revision("web-3", 3, {"x": 2}))), tables.NOW)
    )
    return calls


def _reads() -> set[tuple[str, str, str]]:
    reads = {
        ("apps.kruise.io", "uniteddeployments", "get"),
        ("", "pods", "list"),
        ("apps", "controllerrevisions", "list"),
    }
    return reads | {(k.resource.group, k.resource.plural, "list") for k in KINDS}


def test_uniteddeployment_worker_is_on_by_default_and_off_leaves_nothing_behind() -> None:
    assert named(render({}), "Deployment", "flotilla-worker-uniteddeployment")
    off = render({"workers.uniteddeployment.enabled": False})
    assert not [o for o in off if "uniteddeployment" in o["metadata"]["name"]]
    watcher_rules = named(off, "ClusterRole", "flotilla-watcher")["rules"]
    watched = {(g, r) for rule in watcher_rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("apps.kruise.io", "uniteddeployments") not in watched


def test_default_uniteddeployment_worker_has_its_deployment_and_exactly_the_rbac_it_uses() -> None:
    objects = render({})
    worker = named(objects, "Deployment", "flotilla-worker-uniteddeployment")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker", "uniteddeployment"]
    assert worker["spec"]["template"]["spec"]["serviceAccountName"] == "flotilla-worker-uniteddeployment"
    allowed = _allowed(named(objects, "ClusterRole", "flotilla-worker-uniteddeployment")["rules"])
    used = _planned_calls() | _reads()
    assert used <= allowed, used - allowed
    assert allowed - used == {
        ("apps.kruise.io", "uniteddeployments/finalizers", "update"),
        ("apps.kruise.io", "uniteddeployments/status", "patch"),
    }
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    types = next(e["value"] for e in watcher["env"] if e["name"] == "FLOTILLA_WATCH_TYPES")
    assert "uniteddeployment" in types.split(",")
