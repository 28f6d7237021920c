"""The UnitedDeployment planner on hand-built snapshots: kruise's subset workloads, updates, deletes.

Expected workloads are written out from kruise's adapter (ApplySubsetTemplate) by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workers.runtime import actions as act
from workers.uniteddeployment.planner import ObservedUnitedDeployment, plan
from workers.uniteddeployment.strategic import strategic_merge

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _ud(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "UnitedDeployment",
        "metadata": {"name": "web", "namespace": "ns", "uid": "ud-uid", "generation": 2},
        "spec": {
            "replicas": 6,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "cloneSetTemplate": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {
                                "containers": [
                                    {"name": "main", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}
                                ],
                                "tolerations": [{"key": "base", "operator": "Exists"}],
                            },
                        }
                    },
                }
            },
            "topology": {
                "subsets": [
                    {
                        "name": "a",
                        "nodeSelectorTerm": {
                            "matchExpressions": [
                                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}
                            ]
                        },
                        "tolerations": [
                            {"key": "zone", "operator": "Equal", "value": "a", "effect": "NoSchedule"}
                        ],
                        "replicas": 1,
                    },
                    {
                        "name": "b",
                        "replicas": "50%",
                        "patch": {
                            "spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "2"}]}]}
                        },
                    },
                    {"name": "c"},
                ]
            },
            "updateStrategy": {"type": "Manual", "manualUpdate": {"partitions": {"b": 2}}},
            "revisionHistoryLimit": 10,
        },
        **({"status": spec.pop("status")} if "status" in spec else {}),
    }
    base["spec"].update(spec)
    return base


def _creates(p: Any, plural: str) -> list[dict[str, Any]]:
    return [a.body for a in p.actions if isinstance(a, act.CreateObject) and a.resource.plural == plural]


def test_first_pass_creates_a_revision_and_one_cloneset_per_subset() -> None:
    p = plan(ObservedUnitedDeployment(_ud()), NOW)
    [revision] = _creates(p, "controllerrevisions")
    sets = {s["metadata"]["labels"]["apps.kruise.io/subset-name"]: s for s in _creates(p, "clonesets")}
    assert set(sets) == {"a", "b", "c"}
    a, b, c = sets["a"], sets["b"], sets["c"]
    rev = revision["metadata"]["name"]
    assert rev.startswith("web-")
    # 6 replicas: a=1 fixed, b=50% of 6=3, c the rest (2); partition b=2 (<= 3)
    assert [s["spec"]["replicas"] for s in (a, b, c)] == [1, 3, 2]
    assert [s["spec"]["updateStrategy"]["partition"] for s in (a, b, c)] == [0, 2, 0]
    assert a["metadata"]["generateName"] == "web-a-"
    assert a["metadata"]["labels"] == {
        "app": "web",
        "apps.kruise.io/controller-revision-hash": rev,
        "apps.kruise.io/subset-name": "a",
    }
    assert a["metadata"]["ownerReferences"][0]["uid"] == "ud-uid"
    assert a["metadata"]["ownerReferences"][0]["controller"]
    assert a["spec"]["selector"] == {"matchLabels": {"app": "web", "apps.kruise.io/subset-name": "a"}}
    pod = a["spec"]["template"]
    assert pod["metadata"]["labels"] == {
        "app": "web",
        "apps.kruise.io/subset-name": "a",
        "apps.kruise.io/controller-revision-hash": rev,
    }
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [
        {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}
    ]
    assert [t["key"] for t in pod["spec"]["tolerations"]] == ["base", "zone"]
    # b: the patch merged into container "main" by name, env merged by name
    assert b["spec"]["template"]["spec"]["containers"] == [
        {
            "name": "main",
            "image": "nginx:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        }
    ]
    assert b["metadata"]["annotations"]["apps.kruise.io/subset-patch"].startswith('{"spec"')
    assert "affinity" not in c["spec"]["template"]["spec"]
    [status] = [a for a in p.actions if isinstance(a, act.UpdateStatus)]
    st = status.body["status"]
    assert st["subsetReplicas"] == {"a": 1, "b": 3, "c": 2}
    assert st["labelSelector"] == "app=web"
    assert st["observedGeneration"] == 2
    assert st["currentRevision"] == rev
    assert st["updateStatus"]["updatedRevision"] == rev
    assert {c["type"] for c in st["conditions"]} == {
        "UnitedDeploymentUpdated",
        "SubsetProvisioned",
        "SubsetUpdated",
    }
    events = [a for a in p.actions if isinstance(a, act.EmitEvent)]
    assert [(e.reason, e.message) for e in events] == [
        ("SuccessfulUpdateSubset", "Create 3 Subset (CloneSet)")
    ]


def _existing(ud: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The revision and the CloneSets a first pass creates, as the API server would hold them."""
    p = plan(ObservedUnitedDeployment(ud), NOW)
    [revision] = _creates(p, "controllerrevisions")
    sets = []
    for i, s in enumerate(_creates(p, "clonesets")):
        meta = {
            **s["metadata"],
            "name": s["metadata"]["generateName"] + "x",
            "uid": f"u{i}",
            "resourceVersion": "7",
        }
        sets.append(
            {**s, "metadata": meta, "status": {"replicas": s["spec"]["replicas"], "readyReplicas": 1}}
        )
    return [revision], sets


def test_steady_state_writes_nothing_and_changes_are_patched() -> None:
    ud = _ud()
    revs, sets = _existing(ud)
    first = plan(ObservedUnitedDeployment(ud, tuple(revs), {"CloneSet": tuple(sets)}), NOW)
    status = next(a for a in first.actions if isinstance(a, act.UpdateStatus)).body["status"]
    settled = {**ud, "status": status}
    again = plan(ObservedUnitedDeployment(settled, tuple(revs), {"CloneSet": tuple(sets)}), NOW)
    assert again.actions == ()
    # scale to 10: a=1, b=5, c=4; partition b stays 2
    scaled = {**settled, "spec": {**settled["spec"], "replicas": 10}}
    p = plan(ObservedUnitedDeployment(scaled, tuple(revs), {"CloneSet": tuple(sets)}), NOW)
    patches = {a.name: a.patch for a in p.actions if isinstance(a, act.PatchObject)}
    assert patches["web-b-x"]["spec"] == {"replicas": 5}
    assert patches["web-c-x"]["spec"] == {"replicas": 4}
    assert patches["web-b-x"]["metadata"]["resourceVersion"] == "7"
    assert "web-a-x" not in patches


def test_removed_subset_is_deleted_and_kind_change_replaces() -> None:
    ud = _ud()
    revs, sets = _existing(ud)
    spec = {
        **ud["spec"],
        "topology": {"subsets": ud["spec"]["topology"]["subsets"][::2]},
        "updateStrategy": {"type": "Manual", "manualUpdate": {}},
    }
    p = plan(ObservedUnitedDeployment({**ud, "spec": spec}, tuple(revs), {"CloneSet": tuple(sets)}), NOW)
    deletes = [a.name for a in p.actions if isinstance(a, act.DeleteObject)]
    assert deletes == ["web-b-x"]
    assert ("SuccessfulUpdateSubset", "Delete 1 Subset (CloneSet)") in [
        (e.reason, e.message) for e in p.actions if isinstance(e, act.EmitEvent)
    ]
    deployment = {
        "metadata": {"labels": {"app": "web"}},
        "spec": ud["spec"]["template"]["cloneSetTemplate"]["spec"],
    }
    changed = {**ud, "spec": {**ud["spec"], "template": {"deploymentTemplate": deployment}}}
    p = plan(ObservedUnitedDeployment(changed, tuple(revs), {"CloneSet": tuple(sets)}), NOW)
    assert sorted(a.name for a in p.actions if isinstance(a, act.DeleteObject)) == [
        "web-a-x",
        "web-b-x",
        "web-c-x",
    ]
    deployments = _creates(p, "deployments")
    assert len(deployments) == 3
    assert all("partition" not in str(d["spec"].get("strategy", {})) for d in deployments)
    # a new template makes a new revision
    assert _creates(p, "controllerrevisions")[0]["metadata"]["name"] != revs[0]["metadata"]["name"]


def test_a_spec_kruise_would_refuse_gets_subset_failure_and_no_write() -> None:
    # a=1 + b=50% of 1 (0.5 rounds half up to 1) = 2 > 1: kruise's validateSubsetReplicas
    ud = _ud(replicas=1)
    p = plan(ObservedUnitedDeployment(ud), NOW)
    message = (
        "spec.topology.subsets: Invalid value: 2: sum of indicated subset replicas 2 should not be"
        " greater than UnitedDeployment replicas 1"
    )
    [event] = [a for a in p.actions if isinstance(a, act.EmitEvent)]
    assert (event.type, event.reason, event.message) == ("Warning", "SubsetFailure", message)
    [status] = [a for a in p.actions if isinstance(a, act.UpdateStatus)]
    [condition] = status.body["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "SubsetFailure",
        "True",
        "InvalidSpec",
    )
    assert len(p.actions) == 2  # no revision, no workload
    # a partition for a subset that does not exist (kruise's message)
    spec = {"updateStrategy": {"type": "Manual", "manualUpdate": {"partitions": {"zz": 1}}}}
    p = plan(ObservedUnitedDeployment(_ud(**spec)), NOW)
    [event] = [a for a in p.actions if isinstance(a, act.EmitEvent)]
    assert event.message == (
        'spec.updateStrategy.partitions: Invalid value: map[string]int32{"zz":1}: subset zz does not exist'
    )


def test_strategic_merge_directives() -> None:
    template = {
        "spec": {
            "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80}]}, {"name": "b"}],
            "volumes": [{"name": "v"}],
        }
    }
    patch = {
        "spec": {
            "containers": [
                {"name": "b", "$patch": "delete"},
                {"name": "a", "ports": [{"containerPort": 81}]},
            ],
            "volumes": None,
            "nodeSelector": {"x": "y"},
        }
    }
    assert strategic_merge(template, patch) == {
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "ports": [{"containerPort": 80}, {"containerPort": 81}]}
            ],
            "nodeSelector": {"x": "y"},
        }
    }
    assert strategic_merge(
        {"spec": {"affinity": {"a": 1}}}, {"spec": {"affinity": {"$patch": "replace", "b": 2}}}
    ) == {"spec": {"affinity": {"b": 2}}}
