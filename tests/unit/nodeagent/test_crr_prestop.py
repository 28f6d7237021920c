"""preStop ``httpGet`` / ``tcpSocket`` hooks of a CRR (nodeagent.crr.prestop and the agent's
``_pre_stop``), against kruise v1.9.1's runner: k8s.io/kubernetes v1.32
``pkg/kubelet/lifecycle/handlers.go`` and ``pkg/probe/http/request.go`` (URL, headers, named
ports, the failure messages word for word; the status code not looked at; ``tcpSocket`` not run).
Real HTTP server and TCP listener on loopback.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from nodeagent.crr.agent import CrrAgent
from nodeagent.crr.daemon import StopContainer
from nodeagent.crr.prestop import HttpGetHook, InvalidHook, plan_hook, run_http_get

POD = "p_ns(uid-1)"
PORTS = [{"name": "web", "containerPort": 8080}]


def test_http_get_url_from_pod_ip_and_named_port_with_kubelet_headers() -> None:
    handler = {"httpGet": {"path": "/bye", "port": "web", "scheme": "HTTPS"}}
    hook = plan_hook(handler, "app", PORTS, "10.0.0.7", POD)
    assert hook == HttpGetHook(
        url="https://10.0.0.7:8080/bye",
        headers=(("User-Agent", "kube-lifecycle/1.32"), ("Accept", "*/*")),
        path="/bye",
    )
    given = {"port": 81, "host": "fd00::1", "httpHeaders": [{"name": "Accept", "value": ""}]}
    hook = plan_hook({"httpGet": given}, "app", PORTS, "10.0.0.7", POD)
    assert isinstance(hook, HttpGetHook)
    assert hook.url == "http://[fd00::1]:81"
    assert hook.headers == (("User-Agent", "kube-lifecycle/1.32"),)
    numeric = plan_hook({"httpGet": {"port": "9090", "path": "x"}}, "app", [], "10.0.0.7", POD)
    assert isinstance(numeric, HttpGetHook)
    assert numeric.url == "http://10.0.0.7:9090/x"


def test_hooks_that_fail_without_running() -> None:
    assert plan_hook({"httpGet": {"path": "/bye", "port": "admin"}}, "app", PORTS, "10.0.0.7", POD) == (
        InvalidHook(
            'HTTP lifecycle hook (/bye) for Container "app" in Pod "p_ns(uid-1)" failed - '
            "error: couldn't find port: admin in app"
        )
    )
    assert plan_hook({"httpGet": {"path": "/bye", "port": 80}}, "app", PORTS, "", POD) == InvalidHook(
        'HTTP lifecycle hook (/bye) for Container "app" in Pod "p_ns(uid-1)" failed - '
        "error: failed to find networking container"
    )
    assert plan_hook({"tcpSocket": {"port": 80}}, "app", PORTS, "10.0.0.7", POD) == InvalidHook(
        "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,"
        "TCPSocket:&TCPSocketAction{Port:{0 80 },Host:,},Sleep:nil,}"
    )
    named = plan_hook({"tcpSocket": {"port": "web", "host": "h"}}, "app", PORTS, "10.0.0.7", POD)
    assert named == InvalidHook(
        "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,"
        "TCPSocket:&TCPSocketAction{Port:{1 0 web},Host:h,},Sleep:nil,}"
    )
    assert (
        plan_hook({"exec": {"command": ["true"]}, "httpGet": {"port": 80}}, "app", [], "1.2.3.4", POD) is None
    )
    assert plan_hook({}, "app", [], "1.2.3.4", POD) is None


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({"path": request.path_qs, "headers": dict(request.headers)})
        return web.Response(status=500 if request.path == "/broken" else 200, text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    yield port, seen
    await runner.cleanup()


async def test_http_get_is_sent_and_any_answer_is_success(server: tuple[int, list[dict[str, Any]]]) -> None:
    port, seen = server
    ports = [{"name": "web", "containerPort": port}]
    handler = {
        "httpGet": {"path": "/bye?now=1", "port": "web", "httpHeaders": [{"name": "X-Why", "value": "crr"}]}
    }
    hook = plan_hook(handler, "app", ports, "127.0.0.1", POD)
    assert isinstance(hook, HttpGetHook)
    assert await run_http_get(hook, 5, "app", POD) is None
    broken = plan_hook({"httpGet": {"path": "/broken", "port": port}}, "app", [], "127.0.0.1", POD)
    assert isinstance(broken, HttpGetHook)
    assert await run_http_get(broken, 5, "app", POD) is None
    assert [entry["path"] for entry in seen] == ["/bye?now=1", "/broken"]
    assert seen[0]["headers"]["X-Why"] == "crr"
    assert seen[0]["headers"]["User-Agent"] == "kube-lifecycle/1.32"
    assert seen[0]["headers"]["Accept"] == "*/*"


async def test_http_get_to_a_closed_port_fails_with_the_kubelet_message() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    hook = plan_hook({"httpGet": {"path": "/bye", "port": closed}}, "app", [], "127.0.0.1", POD)
    assert isinstance(hook, HttpGetHook)
    message = await run_http_get(hook, 5, "app", POD)
    assert message is not None
    assert message.startswith(
        'HTTP lifecycle hook (/bye) for Container "app" in Pod "p_ns(uid-1)" failed - error: '
    )


def _stop(pre_stop: dict[str, Any], ports: tuple[dict[str, Any], ...] = ()) -> StopContainer:
    return StopContainer(
        container_name="app",
        container_id="containerd://c1",
        grace_seconds=5,
        pre_stop_exec=None,
        message="Stopping container app by ContainerRecreateRequest r",
        pre_stop=pre_stop,
        ports=ports,
    )


POD_OBJECT = {"metadata": {"name": "p", "uid": "uid-1"}, "status": {"podIPs": [{"ip": "127.0.0.1"}]}}


async def test_the_agent_runs_http_get_at_the_pod_ip(server: tuple[int, list[dict[str, Any]]]) -> None:
    port, seen = server
    agent = CrrAgent(None, None, "node-a")  # type: ignore[arg-type]
    stop = _stop({"httpGet": {"path": "/bye", "port": "web"}}, ({"name": "web", "containerPort": port},))
    assert await agent._pre_stop("ns/p", POD_OBJECT, stop, 5) is None
    assert [entry["path"] for entry in seen] == ["/bye"]


async def test_the_agent_does_not_connect_for_a_tcp_socket_hook() -> None:
    accepted: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    listener = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        agent = CrrAgent(None, None, "node-a")  # type: ignore[arg-type]
        message = await agent._pre_stop("ns/p", POD_OBJECT, _stop({"tcpSocket": {"port": port}}), 5)
        await asyncio.sleep(0.2)
    finally:
        listener.close()
        await listener.wait_closed()
    assert message is not None
    assert message.startswith("Cannot run handler: invalid handler: ")
    assert accepted == []
