"""The chart's side of the ImagePullJob pull-secret copies: the ``kruise-daemon-config`` namespace
(made with the release unless ``daemonConfigNamespace.create`` is false), the imagepulljob worker's
rights there (a Role: list the copies, create, patch, delete: exactly the secret calls its plans
make) and cluster-wide (get: the source Secrets; the namespace itself by name), the node agent's
(get the copies, nowhere else), and the watcher's watch of Secrets (a changed source re-runs the
jobs of its namespace). Off (the default, or the node agent without image pulls) nothing of this is
rendered: tests/unit/helm/test_helm_nodeagent.py."""

from __future__ import annotations

from tests.unit.helm.chart_render import env_of, named, render
from tests.unit.helm.test_helm_uniteddeployment import _allowed, _calls
from tests.unit.imagepulljob import test_imagepulljob_secrets as tables
from workers.imagepulljob import planner, worker

ON = {"workers.imagepulljob.enabled": True}
RENAMED = "pull-copies"


def _secret_calls() -> set[tuple[str, str, str]]:
    """The secret calls of real plans: a first copy, a claimed copy, a released and a deleted one."""
    calls: set[tuple[str, str, str]] = set()
    node = tables.NODE
    finished = tables._job(completionTime="2026-01-01T00:01:00Z")
    for job, seen in (
        (tables._job(), tables._seen()),
        (tables._job(), tables._seen(tables._copy("pull-secret-abc123", "default/other-job"))),
        (finished, tables._seen(tables._copy("pull-secret-abc123", "default/other-job,default/test-job"))),
        (finished, tables._seen(tables._copy("pull-secret-abc123", "default/test-job"))),
    ):
        snapshot = worker.Snapshot("default", "test-job", planner.Observed(job, (node,), seen))
        calls |= {
            c for c in _calls(worker.plan(snapshot, worker.Config(), tables._at(1))) if c[1] == "secrets"
        }
    return calls


def test_the_worker_may_write_only_the_copies_and_read_the_sources() -> None:
    # one render (helm is slow under load): a renamed namespace that exists already; the default
    # (kruise-daemon-config, created with the release) is rendered in test_helm_nodeagent.py
    objects = render(ON, values_yaml={"daemonConfigNamespace": {"name": RENAMED, "create": False}})
    assert not [o for o in objects if o["kind"] == "Namespace"]
    role = named(objects, "Role", "flotilla-worker-imagepulljob-secrets")
    assert role["metadata"]["namespace"] == RENAMED
    used = _secret_calls()
    assert used == {("", "secrets", "create"), ("", "secrets", "patch"), ("", "secrets", "delete")}
    assert _allowed(role["rules"]) == used | {("", "secrets", "list")}
    binding = named(objects, "RoleBinding", "flotilla-worker-imagepulljob-secrets")
    assert binding["metadata"]["namespace"] == RENAMED
    assert binding["subjects"][0]["name"] == "flotilla-worker-imagepulljob"
    cluster = _allowed(named(objects, "ClusterRole", "flotilla-worker-imagepulljob")["rules"])
    assert {(g, r, v) for g, r, v in cluster if r == "secrets"} == {("", "secrets", "get")}
    [rule] = named(objects, "ClusterRole", "flotilla-worker-imagepulljob-daemon-config")["rules"]
    assert rule == {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "resourceNames": [RENAMED],
        "verbs": ["get"],
    }
    container = named(objects, "Deployment", "flotilla-worker-imagepulljob")["spec"]["template"]["spec"]
    assert env_of(container["containers"][0])["KRUISE_DAEMON_CONFIG_NS"] == RENAMED
    watcher = _allowed(named(objects, "ClusterRole", "flotilla-watcher")["rules"])
    assert {("", "secrets", "list"), ("", "secrets", "watch")} <= watcher
