"""The chart's Advanced StatefulSet worker: enabled, it runs ``flotilla worker statefulset`` with its
own ServiceAccount and ClusterRole, and that role grants every call the worker's plans make (taken
from real planner plans, not from the values file) and no write beyond them."""

from __future__ import annotations

from tests.unit.helm.chart_render import named, render
from tests.unit.statefulset import sts_builders as b
from tests.unit.statefulset import test_statefulset_planner as tables
from tests.unit.statefulset import test_statefulset_predownload as tables_predownload
from workers.runtime import actions as runtime
from workers.statefulset.builder import StatefulSetPlan


def _allowed(rules: list[dict[str, list[str]]]) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def _calls(plan: StatefulSetPlan) -> set[tuple[str, str, str]]:
    calls: set[tuple[str, str, str]] = set()
    for action in plan.actions:
        match action:
            case runtime.CreateObject(resource, _, _):
                calls.add((resource.group, resource.plural, "create"))
            case runtime.PatchObject(resource, _, _, _, _, subresource):
                plural = f"{resource.plural}/{subresource}" if subresource else resource.plural
                calls.add((resource.group, plural, "patch"))
            case runtime.DeleteObject(resource, _, _, _, _):
                calls.add((resource.group, resource.plural, "delete"))
            case runtime.EmitEvent():
                calls.update({("", "events", "create"), ("", "events", "patch")})
    return calls


def _planned_calls() -> set[tuple[str, str, str]]:
    """Calls of plans covering every kind of write: scaling with PVCs and retention, adoption,
    deletion, rollback, history pruning, lifecycle hooks, status."""
    A, B, REVS = tables.A, tables.B, tables.REVS
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    plans = [
        tables.FIRST,
        b.run(b.sts(2, volumeClaimTemplates=tables.VCT), revisions=[tables.REV_A]),
        b.run(
            b.sts(
                1,
                podManagementPolicy="Parallel",
                volumeClaimTemplates=tables.VCT,
                persistentVolumeClaimRetentionPolicy=policy,
            ),
            tables.ready(0, 1),
            [tables.REV_A],
            claims=[tables.claim(0), tables.claim(1)],
        ),
        b.run(b.sts(1), [b.pod(0, A, owner=False)], [tables.REV_A]),
        b.run(
            b.sts(2, status={"currentRevision": B}),
            [b.pod(0, B)],
            [tables.REV_A, {**tables.REV_B, "revision": 2}],
        ),
        b.run(b.sts(1, revisionHistoryLimit=0, status={"currentRevision": A}), [b.pod(0, A)], REVS),
        b.run(
            b.sts(1, lifecycle={"preDelete": {"labelsHandler": {"hold": "true"}}}),
            [b.pod(0, A), b.pod(1, A, labels={"hold": "true"})],
            [tables.REV_A],
        ),
    ]
    # image pre-download (gate on): a job created, a revision marked; once the revisions agree,
    # the set's jobs deleted (observe lists them)
    pre = tables_predownload
    plans.append(pre.run_pre(pre.rollout(), [tables.REV_A]))
    job = pre.job_owned_by(f"{A}-main", b.UID)
    plans.append(
        pre.run_pre(b.sts(5, updateStrategy=pre.IN_PLACE, status=pre.STEADY_A), [tables.REV_A], jobs=[job])
    )
    calls = set().union(*(_calls(p) for p in plans))
    # observe: a GET of the set, consistent LISTs of what it owns; dead letter: a status update
    calls |= {
        ("apps.kruise.io", "imagepulljobs", "list"),
        ("apps.kruise.io", "statefulsets", "get"),
        ("", "pods", "list"),
        ("", "persistentvolumeclaims", "list"),
        ("apps", "controllerrevisions", "list"),
        ("apps.kruise.io", "statefulsets/status", "update"),
    }
    return calls


def test_statefulset_worker_is_on_by_default_and_can_be_turned_off() -> None:
    assert named(render({}), "Deployment", "flotilla-worker-statefulset")
    assert not [
        o for o in render({"workers.statefulset.enabled": False}) if "statefulset" in o["metadata"]["name"]
    ]


def test_enabled_statefulset_worker_has_its_deployment_and_exactly_the_rbac_it_uses() -> None:
    objects = render({"workers.statefulset.enabled": True})
    worker = named(objects, "Deployment", "flotilla-worker-statefulset")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker", "statefulset"]
    assert worker["spec"]["template"]["spec"]["serviceAccountName"] == "flotilla-worker-statefulset"
    role = named(objects, "ClusterRole", "flotilla-worker-statefulset")
    allowed = _allowed(role["rules"])
    planned = _planned_calls()
    assert planned <= allowed, planned - allowed
    # beyond the calls its plans make, only blockOwnerDeletion's finalizers permission
    assert allowed - planned == {("apps.kruise.io", "statefulsets/finalizers", "update")}
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    types = next(e["value"] for e in watcher["env"] if e["name"] == "FLOTILLA_WATCH_TYPES")
    assert "statefulset" in types.split(",")
