"""`hostNetwork` for the watcher and the workers, with an HTTP port per component.

The chart's pods had never run as real pods before the real node (tests/integration/realnode/
test_realnode_chart.py); there the API server and NATS listen on the node's loopback, which only
the node's own network reaches, and two components on one node with the one shared `httpPort`
would both want the same host port. So: `hostNetwork` puts the watcher's and workers' pods in the
node's network (dnsPolicy ClusterFirstWithHostNet, as the node agent does), `watcher.httpPort` and
`workers.<type>.httpPort` give each its own port (container port, probes and FLOTILLA_HTTP_PORT
agree), and a release where two of them would share a host port fails to render, naming both.
"""

from __future__ import annotations

from typing import Any

from tests.unit.helm.chart_render import env_of, named, render, render_text
from tests.unit.helm.test_helm_chart import DEFAULT_WORKERS

PORTS = {"hostNetwork": True, "watcher.httpPort": 18081, "workers.cloneset.httpPort": 18082}
#: Every default worker but CloneSet's off (the default set grows: follow it, do not list it again).
OTHERS_OFF = {f"workers.{t}.enabled": False for t in DEFAULT_WORKERS if t != "cloneset"}


def _pod(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = named(objects, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def _port(spec: dict[str, Any]) -> tuple[int, str]:
    [container] = spec["containers"]
    [http] = [p for p in container["ports"] if p["name"] == "http"]
    assert container["readinessProbe"]["httpGet"]["port"] == "http"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    return http["containerPort"], env_of(container)["FLOTILLA_HTTP_PORT"]


def test_off_by_default_and_one_port_for_all() -> None:
    objects = render()
    for name in ("flotilla-watcher", "flotilla-worker-cloneset", "flotilla-webhook"):
        spec = _pod(objects, name)
        assert "hostNetwork" not in spec, name
        assert "dnsPolicy" not in spec, name
        assert _port(spec) == (8080, "8080"), name


def test_host_network_with_a_port_per_component() -> None:
    objects = render({**PORTS, **OTHERS_OFF})
    watcher, worker = _pod(objects, "flotilla-watcher"), _pod(objects, "flotilla-worker-cloneset")
    for spec in (watcher, worker):
        assert spec["hostNetwork"] is True
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert _port(watcher) == (18081, "18081")
    assert _port(worker) == (18082, "18082")
    webhook = _pod(objects, "flotilla-webhook")
    assert "hostNetwork" not in webhook, "the webhook keeps the pod network (the API server calls it)"
    assert _port(webhook) == (8080, "8080")


def test_two_components_on_one_host_port_fail_to_render() -> None:
    both = {"workers.statefulset.enabled": True, "workers.statefulset.httpPort": 18082}
    result = render_text({**PORTS, **OTHERS_OFF, **both}, check=False)
    assert result.returncode != 0
    expected = "workers.statefulset.httpPort and workers.cloneset.httpPort are both host port 18082"
    assert expected in result.stderr, result.stderr
    # a type left at the global httpPort is on its own port as long as nothing else uses it
    render({**PORTS, **OTHERS_OFF, "workers.statefulset.enabled": True})
    result = render_text(
        {**PORTS, **OTHERS_OFF, "nodeAgent.enabled": True, "nodeAgent.httpPort": 18081}, check=False
    )
    assert result.returncode != 0
    assert "nodeAgent.httpPort and watcher.httpPort are both host port 18081" in result.stderr, result.stderr
