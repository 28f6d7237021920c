"""The node agent's out-of-cluster credentials are the chart's rights, bound to its user."""

from __future__ import annotations

import pytest

from flotilla.devcluster.agentcreds import USER, _bound_to_user, chart_daemon_config

pytestmark = pytest.mark.unit


def test_the_pull_secret_copies_role_is_get_only_in_kruise_daemon_config_and_bound_there() -> None:
    namespace, role = chart_daemon_config()
    assert namespace["metadata"]["name"] == "kruise-daemon-config"  # kruise's namespace for the copies
    assert role["metadata"]["namespace"] == "kruise-daemon-config"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    binding = _bound_to_user(role)
    assert binding["kind"] == "RoleBinding"
    assert binding["metadata"] == {"name": role["metadata"]["name"], "namespace": "kruise-daemon-config"}
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]


def test_a_cluster_role_is_bound_cluster_wide() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "flotilla-node-agent"}}
    binding = _bound_to_user(role)
    assert binding["kind"] == "ClusterRoleBinding"
    assert binding["metadata"] == {"name": "flotilla-node-agent"}
