"""A CRR container's preStop ``httpGet`` / ``tcpSocket`` hook, as kruise-daemon runs it.

kruise-daemon builds a Pod from the request (``crr_daemon_util.go``: each container's ``ports``
and ``preStop``) and runs the hook with the kubelet's ``lifecycle.handlerRunner``
(k8s.io/kubernetes v1.32 ``pkg/kubelet/lifecycle/handlers.go``) before ``StopContainer``:

- ``exec`` first (:meth:`nodeagent.cri.runtime.CriRuntime.exec_sync`), else ``httpGet``: a GET to
  ``scheme://host:port/path`` — scheme lower-cased (default ``http``), host the Pod's IP when
  empty, the port a number, a numeric string or the name of one of the container's ``ports``;
  the action's headers, ``User-Agent: kube-lifecycle/<major>.<minor>`` and ``Accept: */*``
  unless given. Only a transport error fails it (the status code is not looked at).
- ``tcpSocket`` is **not run** by the kubelet's runner (it is kept in the API for old objects):
  it fails with ``Cannot run handler: invalid handler: &LifecycleHandler{...}`` (Go's rendering
  of the handler) and the stop goes on.

A failed hook is a Warning Event ``FailedPreStopHook`` with the kubelet's message; the stop
always follows, its grace reduced by the time the hook took. :func:`plan_hook` is pure;
:func:`run_http_get` is the executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

JsonObject = dict[str, Any]

#: ``kube-lifecycle/<major>.<minor>``: the kubelet version whose runner kruise v1.9.1 vendors.
USER_AGENT = "kube-lifecycle/1.32"
FAILED_PRE_STOP_HOOK = "FailedPreStopHook"


@dataclass(frozen=True)
class HttpGetHook:
    url: str
    headers: tuple[tuple[str, str], ...]
    #: The action's ``path`` (the kubelet's failure message names it).
    path: str


@dataclass(frozen=True)
class InvalidHook:
    """A hook that fails without running; ``message`` is the kubelet's Event message."""

    message: str


def pod_label(name: str, namespace: str, uid: str) -> str:
    """The kubelet's ``format.Pod``: ``name_namespace(uid)``."""
    return f"{name}_{namespace}({uid})"


def _resolve_port(port: object, ports: list[JsonObject]) -> int | None:
    if isinstance(port, int):
        return port
    text = str(port)
    if text.lstrip("-").isdigit():
        return int(text)
    for spec in ports:
        if spec.get("name") == text:
            return int(spec.get("containerPort", 0))
    return None


def plan_hook(
    handler: JsonObject, container: str, ports: list[JsonObject], pod_ip: str, pod: str
) -> HttpGetHook | InvalidHook | None:
    """The non-exec hook to run for ``handler`` (a core/v1 LifecycleHandler), or None when
    there is nothing but ``exec`` (run elsewhere) or nothing at all."""
    if handler.get("exec"):
        return None
    action = handler.get("httpGet")
    if action:
        path = str(action.get("path") or "")
        host = str(action.get("host") or "") or pod_ip
        if not host:
            return InvalidHook(
                f'HTTP lifecycle hook ({path}) for Container "{container}" in Pod "{pod}" failed - '
                "error: failed to find networking container"
            )
        port = _resolve_port(action.get("port"), ports)
        if port is None:
            return InvalidHook(
                f'HTTP lifecycle hook ({path}) for Container "{container}" in Pod "{pod}" failed - '
                f"error: couldn't find port: {action.get('port')} in {container}"
            )
        scheme = str(action.get("scheme") or "http").lower()
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        headers = [(str(h.get("name")), str(h.get("value", ""))) for h in action.get("httpHeaders") or ()]
        names = {name.lower() for name, _ in headers}
        if "user-agent" not in names:
            headers.append(("User-Agent", USER_AGENT))
        if "accept" not in names:
            headers.append(("Accept", "*/*"))
        else:
            headers = [(n, v) for n, v in headers if n.lower() != "accept" or v]
        prefix = "" if path.startswith("/") or not path else "/"
        return HttpGetHook(url=f"{scheme}://{netloc}{prefix}{path}", headers=tuple(headers), path=path)
    tcp = handler.get("tcpSocket")
    if tcp:
        port = tcp.get("port")
        go_port = f"{{0 {port} }}" if isinstance(port, int) else f"{{1 0 {port}}}"
        action = f"&TCPSocketAction{{Port:{go_port},Host:{tcp.get('host') or ''},}}"
        return InvalidHook(
            "Cannot run handler: invalid handler: "
            f"&LifecycleHandler{{Exec:nil,HTTPGet:nil,TCPSocket:{action},Sleep:nil,}}"
        )
    return None


async def run_http_get(hook: HttpGetHook, timeout_seconds: float, container: str, pod: str) -> str | None:
    """Send the hook's GET; None on any answer, else the kubelet's failure message."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as session,
            session.get(hook.url, headers=list(hook.headers), allow_redirects=True) as response,
        ):
            await response.read()
            return None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return (
            f'HTTP lifecycle hook ({hook.path}) for Container "{container}" in Pod "{pod}" failed - '
            f"error: {exc or type(exc).__name__}"
        )
