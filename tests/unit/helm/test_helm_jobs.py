"""The chart with the BroadcastJob and AdvancedCronJob workers on: their Deployments, the watcher's
extra kinds (nodes cluster-wide for BroadcastJob), and RBAC that is exactly the calls each makes
(workers/broadcastjob, workers/advancedcronjob and workers/runtime)."""

from __future__ import annotations

from tests.unit.helm.chart_render import env_of, named, render
from tests.unit.helm.test_helm_chart import DEFAULT_WORKERS

ON = {"workers.broadcastjob.enabled": True, "workers.advancedcronjob.enabled": True}


def granted(role: dict[str, object]) -> dict[tuple[str, str], set[str]]:
    rules = role["rules"]
    assert isinstance(rules, list)
    return {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_both_job_workers_run_with_least_privilege_rbac() -> None:
    objects = render(ON)
    for kind in ("broadcastjob", "advancedcronjob"):
        worker = named(objects, "Deployment", f"flotilla-worker-{kind}")
        container = worker["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["worker", kind]
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(watcher)["FLOTILLA_WATCH_TYPES"] == ",".join(DEFAULT_WORKERS)

    watched = granted(named(objects, "ClusterRole", "flotilla-watcher"))
    for key in [("", "nodes"), ("apps.kruise.io", "broadcastjobs"), ("apps.kruise.io", "advancedcronjobs"),
                ("batch", "jobs"), ("", "pods")]:  # fmt: skip
        assert watched[key] == {"get", "list", "watch"}, key

    assert granted(named(objects, "ClusterRole", "flotilla-worker-broadcastjob")) == {
        ("apps.kruise.io", "broadcastjobs"): {"get", "delete"},
        ("apps.kruise.io", "broadcastjobs/status"): {"update", "patch"},
        ("apps.kruise.io", "broadcastjobs/finalizers"): {"update"},
        ("", "pods"): {"list", "create", "delete"},
        ("", "nodes"): {"list"},
        ("", "events"): {"create", "patch"},
    }
    assert granted(named(objects, "ClusterRole", "flotilla-worker-advancedcronjob")) == {
        ("apps.kruise.io", "advancedcronjobs"): {"get", "patch"},
        ("apps.kruise.io", "advancedcronjobs/status"): {"update", "patch"},
        ("apps.kruise.io", "advancedcronjobs/finalizers"): {"update"},
        ("batch", "jobs"): {"list", "create", "delete"},
        ("apps.kruise.io", "broadcastjobs"): {"list", "create", "delete"},
        ("", "events"): {"create", "patch"},
    }


def test_namespace_scoped_install_keeps_nodes_cluster_wide() -> None:
    objects = render({**ON}, values_yaml={"watchNamespaces": ["team-a"]})
    assert granted(named(objects, "ClusterRole", "flotilla-watcher")) == {
        ("", "nodes"): {"get", "list", "watch"},
        ("apps.kruise.io", "sidecarsets"): {"get", "list", "watch"},  # cluster-scoped too
    }
    assert ("", "nodes") in granted(named(objects, "ClusterRole", "flotilla-worker-broadcastjob"))
