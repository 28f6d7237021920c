"""The chart's node agent (off by default: tests/unit/helm/test_helm_chart.py). When on: a
DaemonSet on every node with the CRI socket mounted, non-root (the socket's group), read-only, no
capabilities, and RBAC that is exactly the calls nodeagent/ makes (reflector list/watch, CRR
metadata/status patches, TTL delete, the Pod's KruisePodReady status, Events; the pull-secret
copies in kruise-daemon-config, get only)."""

from __future__ import annotations

from tests.unit.helm.chart_render import env_of, named, render

ON = {"nodeAgent.enabled": True}


def granted(role: dict[str, object]) -> dict[tuple[str, str], set[str]]:
    rules = role["rules"]
    assert isinstance(rules, list)
    return {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_daemonset_mounts_the_cri_socket_and_runs_least_privileged() -> None:
    objects = render(ON, values_yaml={"nodeAgent": {"criSocket": "/run/k3s/containerd/containerd.sock"}})
    spec = named(objects, "DaemonSet", "flotilla-node-agent")["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["args"][:2] == ["node-agent", "--cri-endpoint=unix:///run/flotilla/cri.sock"]
    assert env_of(container)["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    socket = next(v for v in spec["volumes"] if v["name"] == "cri-socket")
    assert socket["hostPath"] == {"path": "/run/k3s/containerd/containerd.sock", "type": "Socket"}
    assert spec["hostNetwork"] is True
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["supplementalGroups"] == [0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert granted(named(objects, "ClusterRole", "flotilla-node-agent")) == {
        ("apps.kruise.io", "containerrecreaterequests"): {"list", "watch", "patch", "delete"},
        ("apps.kruise.io", "containerrecreaterequests/status"): {"patch"},
        ("", "pods"): {"list", "watch"},
        ("", "pods/status"): {"patch"},
        ("", "events"): {"create", "patch"},
        ("apps.kruise.io", "nodeimages"): {"list", "watch"},
        ("apps.kruise.io", "nodeimages/status"): {"update"},
    }
    # the pull secrets: only the copies in kruise-daemon-config (kruise-daemon's Role there)
    secrets = named(objects, "Role", "flotilla-node-agent-secrets")
    assert secrets["metadata"]["namespace"] == "kruise-daemon-config"
    assert granted(secrets) == {("", "secrets"): {"get"}}
    assert named(objects, "Namespace", "kruise-daemon-config")  # daemonConfigNamespace.create
    assert "--no-image-pulls" not in container["args"]


def test_without_image_pulls_the_agent_has_no_nodeimage_or_secret_rights() -> None:
    objects = render(ON, values_yaml={"nodeAgent": {"imagePulls": False}})
    [container] = named(objects, "DaemonSet", "flotilla-node-agent")["spec"]["template"]["spec"]["containers"]
    assert "--no-image-pulls" in container["args"]
    rights = granted(named(objects, "ClusterRole", "flotilla-node-agent"))
    assert not {key for key in rights if key[1].startswith("nodeimages") or key[1] == "secrets"}
    daemon_config = [
        o
        for o in objects
        if "kruise-daemon-config" in (o["metadata"]["name"], o["metadata"].get("namespace"))
    ]
    assert not daemon_config
