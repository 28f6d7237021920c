"""The chart's SidecarSet worker: on by default, its Deployment, the watcher's kinds and RBAC
that is exactly the calls the worker makes (workers/sidecarset and workers/runtime)."""

from __future__ import annotations

import yaml

from tests.unit.helm.chart_render import CHART, env_of, named, render
from tests.unit.helm.test_helm_jobs import granted


def test_sidecarset_worker_is_on_by_default_and_least_privilege() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["workers"]["sidecarset"]["enabled"] is True, "on by default, like the other workers"
    objects = render()
    worker = named(objects, "Deployment", "flotilla-worker-sidecarset")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["worker", "sidecarset"]
    assert env_of(container)["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    watcher = named(objects, "Deployment", "flotilla-watcher")["spec"]["template"]["spec"]["containers"][0]
    assert "sidecarset" in env_of(watcher)["FLOTILLA_WATCH_TYPES"].split(",")
    assert granted(named(objects, "ClusterRole", "flotilla-watcher"))[("apps.kruise.io", "sidecarsets")] == {
        "get",
        "list",
        "watch",
    }
    assert granted(named(objects, "ClusterRole", "flotilla-worker-sidecarset")) == {
        ("apps.kruise.io", "sidecarsets"): {"get", "patch"},
        ("apps.kruise.io", "sidecarsets/status"): {"update", "patch"},
        ("apps.kruise.io", "sidecarsets/finalizers"): {"update"},
        ("", "pods"): {"list", "patch"},
        ("", "pods/status"): {"patch"},
        ("", "namespaces"): {"list"},
        ("apps", "controllerrevisions"): {"list", "create", "patch", "delete"},
        ("", "events"): {"create", "patch"},
    }
