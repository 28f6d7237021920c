"""The Kubernetes API client: built once per process, async (aiohttp), raw JSON in and out (orjson).

Why aiohttp against the REST API rather than the ``kubernetes`` package's client: the hot
paths (reconcile reads, the watcher) want bytes -> ``orjson.loads`` -> dicts, and an event
loop that never blocks on a thread pool. Authentication material (kubeconfig: client certs,
tokens, exec plugins; or the in-cluster service account) is still loaded by the ``kubernetes``
package's config loaders, once, at start.

Every request gets an OpenTelemetry CLIENT span, a Prometheus count by verb and code, and the
tenacity retry policy of :mod:`flotilla.runtime.retry`; failures are raised only as the
:mod:`flotilla.runtime.errors` hierarchy. Every write attempt (POST, PUT, PATCH, DELETE) first
passes the :data:`WRITE_FENCE` of its context, when one is set: the worker runtime sets a fence
per leased key (:mod:`workers.runtime.fence`). The fence is asked once the request has its
connection, in the step that writes the request line (:class:`_FencedRequest`); it refuses, or
returns a :class:`WritePermit` whose deadline goes out as the API server's ``timeout`` query
parameter (the server aborts the write when it passes), and learns how the attempt ended.
Reads are not fenced.
The watcher and the worker runtime build one :class:`KubeClient` with
:meth:`KubeClient.from_environment` and pass it on.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp.connector import Connection as Connection_
from opentelemetry import trace

from flotilla.runtime import metrics
from flotilla.runtime.errors import KubeError, error_from_exception, error_from_response
from flotilla.runtime.logs import reconcile_id
from flotilla.runtime.retry import RetryPolicy, call_with_retry

#: A Kubernetes object (or list, or Status) as decoded JSON.
JsonObject = dict[str, Any]

_tracer = trace.get_tracer("flotilla.runtime.kube")

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API: ``Resource("apps.kruise.io", "v1alpha1", "clonesets")``.

    The one resource record of the project: workers address objects with it, the watcher
    (which also needs the `kind` an event's owner references name) lists and watches with it."""

    group: str
    version: str
    plural: str
    kind: str = ""
    namespaced: bool = True

    def collection_path(self, namespace: str | None) -> str:
        """The REST path of the collection (all namespaces when `namespace` is None)."""
        return self.path(namespace or "")

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


class WritePermit(Protocol):
    """One admitted write attempt (:meth:`WriteFence.admit`)."""

    @property
    def timeout(self) -> float:
        """Seconds the API server may spend on the request (sent as its ``timeout`` parameter)."""
        ...

    def settle(self, status: int | None) -> None:
        """The attempt ended with HTTP ``status``, or None when no answer came (error, cancelled)."""
        ...


class WriteFence(Protocol):
    """Admits or refuses a write just before it is sent (each attempt, retries included)."""

    async def admit(self, method: str, path: str) -> WritePermit:
        """A permit to send the request now; raise :class:`~flotilla.runtime.errors.Fenced` to refuse it."""
        ...


#: The fence of the current task (and the tasks it starts): set by the worker runtime around a
#: leased reconcile (:mod:`workers.runtime.fence`); None (the watcher, tests, tools): no fence.
WRITE_FENCE: ContextVar[WriteFence | None] = ContextVar("flotilla_write_fence", default=None)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


CONFIGMAPS = Resource("", "v1", "configmaps")
PODS = Resource("", "v1", "pods")
EVENTS = Resource("", "v1", "events")
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)


@dataclass(frozen=True)
class Connection:
    """Where the API server is and how to authenticate to it."""

    host: str
    ssl_context: ssl.SSLContext | None
    authorization: Callable[[], str | None]


def load_connection(kubeconfig: Path | None = None, context: str | None = None) -> Connection:
    """From ``kubeconfig`` (or ``$KUBECONFIG``, ``~/.kube/config``), else the in-cluster service account."""
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration

    cfg = Configuration()
    path = kubeconfig or (Path(os.environ["KUBECONFIG"]) if os.environ.get("KUBECONFIG") else None)
    if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        kube_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        kube_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path) if path else None, context=context, client_configuration=cfg
        )
    ssl_context: ssl.SSLContext | None = None
    if str(cfg.host).startswith("https"):
        ssl_context = ssl.create_default_context(cafile=cfg.ssl_ca_cert) if cfg.verify_ssl else None
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
        if cfg.cert_file:
            ssl_context.load_cert_chain(cfg.cert_file, cfg.key_file)

    def authorization() -> str | None:
        token = cfg.get_api_key_with_prefix("authorization") or cfg.get_api_key_with_prefix("BearerToken")
        return str(token) if token else None

    return Connection(host=str(cfg.host).rstrip("/"), ssl_context=ssl_context, authorization=authorization)


class KubeClient:
    """Async API client over one aiohttp session. Create once; close on shutdown."""

    def __init__(
        self,
        connection: Connection,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        limit: int = 64,
        user_agent: str = "flotilla",
    ) -> None:
        self.connection = connection
        #: Sent as User-Agent, with `` reconcile/<id>`` inside a reconcile: the API server's audit
        #: log then names the process and the reconcile of every write.
        self.user_agent = user_agent
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_environment(cls, kubeconfig: Path | None = None, **kwargs: Any) -> KubeClient:
        return cls(load_connection(kubeconfig), **kwargs)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.connection.ssl_context or False, limit=self._limit)
            self._session = aiohttp.ClientSession(
                connector=connector,
                json_serialize=lambda o: orjson.dumps(o).decode(),
                request_class=_FencedRequest,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _headers(self, content_type: str | None) -> dict[str, str]:
        rid = reconcile_id.get()
        agent = f"{self.user_agent} reconcile/{rid}" if rid else self.user_agent
        headers = {"Accept": "application/json", "User-Agent": agent}
        token = self.connection.authorization()
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
    ) -> bytes:
        fence = WRITE_FENCE.get() if method in WRITE_METHODS else None
        # The fence is asked once the request has its connection, right before its bytes go out
        # (_FencedRequest.send), not before it queues for one: a request admitted and then kept
        # waiting for a free connection could leave long after the lease was lost.
        fenced = _FencedWrite(fence, method, path) if fence is not None else None
        pending = _PENDING_WRITE.set(fenced)
        answered: int | None = None
        url = self.connection.host + path
        with _tracer.start_as_current_span(f"kube {method}", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("url.path", path)
            try:
                async with self._http().request(
                    method,
                    url,
                    params=params,
                    data=body,
                    headers=self._headers(content_type),
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as response:
                    answered = response.status
                    data = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                metrics.KUBE_REQUESTS.labels(method, "error").inc()
                span.set_status(trace.StatusCode.ERROR, str(exc))
                raise error_from_exception(exc, method=method, path=path) from exc
            finally:
                _PENDING_WRITE.reset(pending)
                if fenced is not None and fenced.permit is not None:
                    fenced.permit.settle(answered)
                    span.set_attribute("flotilla.write_timeout", fenced.permit.timeout)
            span.set_attribute("http.response.status_code", status)
            metrics.KUBE_REQUESTS.labels(method, str(status)).inc()
            if status >= 400:
                span.set_status(trace.StatusCode.ERROR)
                raise error_from_response(status, data, method=method, path=path, retry_after=retry_after)
            return data

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        retry: bool = True,
    ) -> bytes:
        """Send one request (retried on transient failures unless ``retry=False``); the raw body."""
        if not retry:
            return await self._once(method, path, params, body, content_type)
        return await call_with_retry(self.retry, lambda: self._once(method, path, params, body, content_type))

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JsonObject:
        """A consistent read (no resourceVersion): sees every write acknowledged before it."""
        return _object(await self.request("GET", path, params=params))

    async def create(self, path: str, obj: JsonObject, params: Mapping[str, str] | None = None) -> JsonObject:
        return _object(
            await self.request(
                "POST", path, params=params, body=orjson.dumps(obj), content_type="application/json"
            )
        )

    async def replace(self, path: str, obj: JsonObject) -> JsonObject:
        return _object(
            await self.request("PUT", path, body=orjson.dumps(obj), content_type="application/json")
        )

    async def patch(
        self,
        path: str,
        patch: JsonObject | list[JsonObject],
        patch_type: str = "merge",
        field_manager: str = "",
    ) -> JsonObject:
        params = {"fieldManager": field_manager} if field_manager else None
        body = orjson.dumps(patch)
        return _object(
            await self.request("PATCH", path, params=params, body=body, content_type=PATCH_TYPES[patch_type])
        )

    async def delete(self, path: str, preconditions: Mapping[str, str] | None = None) -> JsonObject:
        options: JsonObject = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if preconditions:
            options["preconditions"] = dict(preconditions)
        body = orjson.dumps(options)
        return _object(await self.request("DELETE", path, body=body, content_type="application/json"))

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[JsonObject]:
        """Stream watch events (``{"type": ..., "object": ...}``) until the server ends the watch.

        Not retried: the watcher decides how to resume (resourceVersion, 410 -> relist).
        """
        query = {**params, "watch": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=float(params.get("timeoutSeconds", "300")) + 30)
        try:
            async with self._http().get(
                self.connection.host + path, params=query, headers=self._headers(None), timeout=timeout
            ) as response:
                if response.status >= 400:
                    data = await response.read()
                    raise error_from_response(response.status, data, method="WATCH", path=path)
                buffer = b""
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            event = orjson.loads(line)
                            if isinstance(event, dict):
                                yield event
        except KubeError:
            raise
        except (TimeoutError, aiohttp.ClientError, OSError, orjson.JSONDecodeError) as exc:
            raise error_from_exception(exc, method="WATCH", path=path) from exc


@dataclass
class _FencedWrite:
    fence: WriteFence
    method: str
    path: str
    permit: WritePermit | None = None


#: The fenced write :meth:`KubeClient._once` is sending in this task (aiohttp sends in the caller's task).
_PENDING_WRITE: ContextVar[_FencedWrite | None] = ContextVar("flotilla_pending_write", default=None)


def go_duration(seconds: float) -> str:
    """``seconds`` as a Go duration (the API server's ``timeout`` parameter), rounded down to ms."""
    return f"{max(1, int(seconds * 1000))}ms"


class _FencedRequest(aiohttp.ClientRequest):
    """aiohttp's request, asking the write fence once it has its connection.

    ``send`` writes the request line from ``self.url``: the fence's deadline is added to it here,
    so it is computed at most one event-loop step before the bytes leave. A refusal (Fenced)
    raises out of ``send``: aiohttp drops the connection and nothing of the request is sent.
    """

    async def send(self, conn: Connection_) -> aiohttp.ClientResponse:
        fenced = _PENDING_WRITE.get()
        if fenced is not None and fenced.permit is None and self.method == fenced.method:
            fenced.permit = await fenced.fence.admit(fenced.method, fenced.path)
            self.url = self.url.update_query(timeout=go_duration(fenced.permit.timeout))
        return await super().send(conn)


def _object(data: bytes) -> JsonObject:
    decoded = orjson.loads(data) if data else {}
    if not isinstance(decoded, dict):
        raise KubeError(f"expected a JSON object from the API server, got {type(decoded).__name__}")
    return decoded
