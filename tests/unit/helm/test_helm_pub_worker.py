"""The PodUnavailableBudget worker in the chart: on by default (off with its `enabled`); its
Deployment, RBAC and NATS user are those of the calls ``workers/podunavailablebudget`` makes
(``helm template``, no cluster)."""

from __future__ import annotations

from schemas.bus.permissions import worker_user
from tests.unit.helm.chart_render import env_of, named, names, render

ON: dict[str, object] = {}  # the default release
OFF = {"workers.podunavailablebudget.enabled": False}
WORKER = "flotilla-worker-podunavailablebudget"


def test_on_by_default_and_off_leaves_nothing_behind() -> None:
    assert WORKER in names(render(), "Deployment")
    off = render(OFF)
    assert not [obj for obj in off if obj["metadata"]["name"] == WORKER]
    watcher = named(off, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    assert "podunavailablebudget" not in env_of(watcher)["FLOTILLA_WATCH_TYPES"].split(",")


def test_enabled_it_runs_the_worker_with_its_own_least_privilege_role() -> None:
    objects = render(ON)
    container = named(objects, "Deployment", WORKER)["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker", "podunavailablebudget"]
    assert env_of(container)["OTEL_SERVICE_NAME"] == WORKER
    rules = named(objects, "ClusterRole", WORKER)["rules"]
    verbs = {
        (group, resource): tuple(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert verbs == {
        ("policy.kruise.io", "podunavailablebudgets"): ("get", "patch"),
        ("policy.kruise.io", "podunavailablebudgets/status"): ("update",),
        ("", "pods"): ("list", "patch"),
        ("apps.kruise.io", "clonesets"): ("get",),
        ("apps.kruise.io", "statefulsets"): ("get",),
        ("apps", "deployments"): ("get",),
        ("apps", "statefulsets"): ("get",),
        ("apps", "replicasets"): ("get", "list"),
        ("", "replicationcontrollers"): ("get",),
        ("", "events"): ("create", "patch"),
    }
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(watcher)["FLOTILLA_WATCH_TYPES"] == (
        "advancedcronjob,broadcastjob,cloneset,containerlaunchpriority,podunavailablebudget,sidecarset,statefulset,uniteddeployment"
    )
    watcher_rules = named(objects, "ClusterRole", "flotilla-watcher")["rules"]
    assert {
        "apiGroups": ["policy.kruise.io"],
        "resources": ["podunavailablebudgets"],
        "verbs": ["get", "list", "watch"],
    } in watcher_rules


def test_enabled_with_bundled_nats_it_signs_in_as_its_own_user() -> None:
    objects = render({**ON, "natsServer.enabled": True})
    container = named(objects, "Deployment", WORKER)["spec"]["template"]["spec"]["containers"][0]
    user = env_of(container)["NATS_USER"]
    assert user == worker_user("podunavailablebudget")
    password = next(e for e in container["env"] if e["name"] == "NATS_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "flotilla-nats-auth", "key": f"password-{user}"}
    auth = named(objects, "Secret", "flotilla-nats-auth")["stringData"]["auth.conf"]
    assert "$JS.API.CONSUMER.MSG.NEXT.RECONCILE.worker-podunavailablebudget" in auth
