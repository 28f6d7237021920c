"""The node agent's own credentials on a local control plane: the chart's least-privilege RBAC.

In a cluster the chart runs ``flotilla node-agent`` as its ServiceAccount, bound to the ClusterRole
of ``templates/nodeagent-daemonset.yaml`` and to its Role in the pull-secret copies' namespace
(``templates/daemonconfig.yaml``, kruise's ``kruise-daemon-config``). Out of cluster (next to the
real node: `make conformance-realnode`, `make bench-inplace-real`) :func:`node_agent_kubeconfig`
gives it the same rights: that ClusterRole and Role rendered from the chart (``helm template``,
so the rules are the chart's, not a copy), bound to the user ``flotilla:node-agent``, and a
kubeconfig with a client certificate of the launcher's CA for that user. A call the chart does not
grant then fails here as it would in a cluster, instead of passing on the admin's rights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.kubeconfig import write_kubeconfig
from flotilla.devcluster.pki import issue_client_cert
from flotilla.devcluster.process import ComponentError
from flotilla.devcluster.webhook import render_chart

USER: Final = "flotilla:node-agent"
TEMPLATE: Final = "templates/nodeagent-daemonset.yaml"
DAEMON_CONFIG_TEMPLATE: Final = "templates/daemonconfig.yaml"


def chart_cluster_role(namespace: str = "flotilla-system") -> dict[str, Any]:
    """The chart's node-agent ClusterRole (image pulls on, the chart's default)."""
    for doc in render_chart(namespace, TEMPLATE, "nodeAgent.enabled=true"):
        if doc.get("kind") == "ClusterRole":
            return doc
    raise ComponentError(f"the chart's {TEMPLATE} renders no ClusterRole")


def chart_daemon_config(namespace: str = "flotilla-system") -> tuple[dict[str, Any], dict[str, Any]]:
    """The chart's pull-secret copies' Namespace and the node agent's Role in it."""
    docs = render_chart(namespace, DAEMON_CONFIG_TEMPLATE, "nodeAgent.enabled=true")
    namespaces = [doc for doc in docs if doc.get("kind") == "Namespace"]
    roles = [doc for doc in docs if doc.get("kind") == "Role"]
    if len(namespaces) != 1 or len(roles) != 1:
        raise ComponentError(
            f"the chart's {DAEMON_CONFIG_TEMPLATE} renders no single Namespace and node-agent Role"
        )
    return namespaces[0], roles[0]


def _bound_to_user(role: dict[str, Any]) -> dict[str, Any]:
    """A binding of `role` (a ClusterRole, or a Role in its namespace) to :data:`USER`."""
    metadata: dict[str, Any] = {"name": role["metadata"]["name"]}
    if role["kind"] == "Role":
        metadata["namespace"] = role["metadata"]["namespace"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{role['kind']}Binding",
        "metadata": metadata,
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role["kind"],
            "name": role["metadata"]["name"],
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }


def node_agent_kubeconfig(env: DevEnvironment) -> Path:
    """Create the chart's node-agent ClusterRole bound to :data:`USER` on `env`'s control plane and
    return a kubeconfig signing in as that user (in the run folder)."""
    cluster = env.cluster
    if cluster is None or cluster.pki is None:
        raise ComponentError("the node agent's credentials need the launcher's own control plane (its CA)")
    role = chart_cluster_role()
    namespace, secrets_role = chart_daemon_config()
    objects = [role, _bound_to_user(role), namespace, secrets_role, _bound_to_user(secrets_role)]
    env.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    folder = env.run_dir / "node-agent"
    client = issue_client_cert(cluster.pki.ca, folder, "node-agent", USER)
    return write_kubeconfig(
        folder / "kubeconfig", server=cluster.server, ca_cert=cluster.pki.ca.cert, user=USER, client=client
    )
