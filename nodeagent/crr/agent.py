"""The node agent's ContainerRecreateRequest loop: the shell around the two pure planners.

Keys are ``namespace/podName``: every change of a request of this node, or of a Pod on this node,
queues its Pod's key; one task works the queue, one key at a time. A pass re-reads the cached
state, runs :func:`nodeagent.crr.controller.plan_request` for each request of the Pod (the
no-node half: deadline, TTL, the Pod's statuses copied in) and then
:func:`nodeagent.crr.daemon.plan_pod` with what the container runtime reports; each does at most
one write, stores the object the API server returned, and the pass repeats until nothing is left
to write. ``requeue_after`` becomes a timer on the key. Errors are logged and the key retried with
backoff (a 409 Conflict too: the cache catches up meanwhile); nothing is dropped.

A container stop (its preStop hook can take the whole grace period) runs as a task of its own, as
kruise-daemon's kill runs apart from kruise-manager's reconcile: meanwhile the queue goes on with
other Pods, and the Pod's own passes still do the no-node half (``activeDeadlineSeconds`` completes
a request whose preStop hook still runs, the unready gate of another request is set at once) but
plan no other stop for that Pod. When the stop returns, the states it planned are written (even on
a request completed meanwhile: kruise-daemon writes them too) and the Pod is queued again.

Each pass is one OpenTelemetry span ``crr sync`` (its CRI calls and API writes are children)
with the node, the Pod, the requests it handled and the phase each reached; each handled
request counts once in ``flotilla_node_agent_crrs_handled_total`` by outcome; log lines inside
carry the Pod key (:func:`flotilla.runtime.logs.reconcile_context`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from opentelemetry import trace

from flotilla.runtime.errors import KubeError, NotFound
from flotilla.runtime.kube import KubeClient, Resource
from flotilla.runtime.logs import reconcile_context
from flotilla.runtime.metrics import NODE_AGENT_CRRS
from nodeagent.cri.runtime import CriError, CriRuntime
from nodeagent.crr.controller import ControllerPlan, plan_request, rfc3339
from nodeagent.crr.daemon import POD_UID_KEY, PodPlan, StopContainer, plan_pod, stop_failed_states
from nodeagent.crr.prestop import FAILED_PRE_STOP_HOOK, InvalidHook, plan_hook, pod_label, run_http_get
from nodeagent.reflector import Reflector, object_key
from schemas.kruise.containerrecreaterequest import NODE_NAME_LABEL, ContainerRecreateRequest
from workers.runtime.events import ObjectRef, emit_event

log = logging.getLogger("flotilla.nodeagent.crr")
_tracer = trace.get_tracer("flotilla.nodeagent")

CRRS = Resource("apps.kruise.io", "v1alpha1", "containerrecreaterequests", "ContainerRecreateRequest")
PODS = Resource("", "v1", "pods", "Pod")
COMPONENT = "flotilla-node-agent-crr"
#: Writes one key may make in one pass before it yields to the others (a safety bound).
MAX_STEPS = 20

JsonObject = dict[str, Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CrrAgent:
    """ContainerRecreateRequests of one node, executed through the CRI."""

    def __init__(self, kube: KubeClient, runtime: CriRuntime, node: str) -> None:
        self._kube = kube
        self._runtime = runtime
        self.node = node
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        #: ``namespace/name`` of each request the current pass wrote -> its outcome.
        self._outcomes: dict[str, str] = {}
        #: Pod key -> the stop (preStop hook + CRI stop + states write) running for it.
        self._stopping: dict[str, asyncio.Task[None]] = {}
        self.crrs = Reflector(kube, CRRS, {"labelSelector": f"{NODE_NAME_LABEL}={node}"}, self._crr_changed)
        self.pods = Reflector(kube, PODS, {"fieldSelector": f"spec.nodeName={node}"}, self._pod_changed)

    # -- triggers -------------------------------------------------------------------------
    def _crr_changed(self, _key: str, obj: JsonObject | None) -> None:
        if obj is not None:
            namespace = (obj.get("metadata") or {}).get("namespace", "")
            self.enqueue(f"{namespace}/{(obj.get('spec') or {}).get('podName', '')}")

    def _pod_changed(self, key: str, _obj: JsonObject | None) -> None:
        self.enqueue(key)

    def enqueue(self, key: str) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _later(self, key: str, seconds: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(max(seconds, 0.05), self.enqueue, key)

    async def synced(self) -> None:
        """Return once the first list of this node's requests and Pods is in."""
        await self.crrs.synced.wait()
        await self.pods.synced.wait()

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        tasks = [asyncio.create_task(self.crrs.run()), asyncio.create_task(self.pods.run())]
        try:
            await self.crrs.synced.wait()
            await self.pods.synced.wait()
            log.info("node agent: watching ContainerRecreateRequests and Pods of node %s", self.node)
            while True:
                key = await self._queue.get()
                self._queued.discard(key)
                try:
                    await self.handle(key)
                    self._failures.pop(key, None)
                except (KubeError, CriError) as exc:
                    count = self._failures[key] = self._failures.get(key, 0) + 1
                    delay = min(0.5 * 2 ** (count - 1), 50.0)
                    log.warning("sync of pod %s failed (%s); retrying in %.1fs", key, exc, delay)
                    self._later(key, delay)
        finally:
            for task in [*tasks, *self._stopping.values()]:
                task.cancel()

    def _requests_of(self, key: str) -> list[ContainerRecreateRequest]:
        namespace, _, pod_name = key.partition("/")
        out = []
        for obj in list(self.crrs.objects.values()):
            meta = obj.get("metadata") or {}
            if meta.get("namespace") == namespace and (obj.get("spec") or {}).get("podName") == pod_name:
                try:
                    out.append(ContainerRecreateRequest.from_wire(obj))
                except ValueError as exc:
                    log.warning(
                        "ContainerRecreateRequest %s is not valid, left alone: %s", object_key(obj), exc
                    )
        return out

    async def handle(self, key: str) -> None:
        """One pass on a Pod's key, traced, counted and logged with the key (raises as sync)."""
        self._outcomes = {}
        with (
            reconcile_context(key),
            _tracer.start_as_current_span("crr sync", kind=trace.SpanKind.CONSUMER) as span,
        ):
            span.set_attribute("flotilla.node", self.node)
            span.set_attribute("k8s.pod.key", key)
            try:
                await self.sync(key)
            except (KubeError, CriError) as exc:
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, str(exc))
                for crr in self._requests_of(key):
                    self._outcomes.setdefault(_crr_key(crr), "error")
                raise
            finally:
                self._record(key, span)

    def _record(self, key: str, span: trace.Span) -> None:
        for crr in self._requests_of(key):
            if crr.status.completion_time is None:
                self._outcomes.setdefault(_crr_key(crr), "waiting")
        names, phases = [], []
        for crr_key, outcome in sorted(self._outcomes.items()):
            NODE_AGENT_CRRS.labels(outcome).inc()
            names.append(crr_key)
            stored = self.crrs.objects.get(crr_key)
            phase = "Deleted" if stored is None else str((stored.get("status") or {}).get("phase") or "")
            phases.append(phase)
        if names:
            span.set_attribute("flotilla.crr.keys", names)
            span.set_attribute("flotilla.crr.phases", phases)
            span.set_attribute("flotilla.crr.outcomes", [self._outcomes[name] for name in names])

    def _wrote(self, namespace: str, name: str, outcome: str) -> None:
        key = f"{namespace}/{name}"
        if self._outcomes.get(key) not in ("completed", "deleted"):
            self._outcomes[key] = outcome

    async def sync(self, key: str) -> None:
        """Work one Pod's requests until no write is left; arm the earliest timer asked for."""
        for _ in range(MAX_STEPS):
            crrs = self._requests_of(key)
            if not crrs:
                return
            pod = self.pods.objects.get(key)
            waits: list[float] = []
            wrote = False
            for crr in crrs:
                plan = plan_request(crr, pod, _now())
                if plan.requeue_after is not None:
                    waits.append(plan.requeue_after)
                if await self._act_controller(crr, plan):
                    wrote = True
                    break
            if wrote:
                continue
            live = [
                c
                for c in crrs
                if c.status.completion_time is None and not c.metadata.get("deletionTimestamp")
            ]
            if not live or key in self._stopping:  # a stop in flight queues the Pod when done
                self._arm(key, waits)
                return
            uid = (live[0].metadata.get("labels") or {}).get(POD_UID_KEY, "")
            containers = await self._runtime.pod_containers(uid) if uid else []
            pod_plan = plan_pod(live, containers, _now())
            if pod_plan.requeue_after is not None:
                waits.append(pod_plan.requeue_after)
            if not await self._act_pod(key, pod_plan):
                self._arm(key, waits)
                return
        self.enqueue(key)

    def _arm(self, key: str, waits: list[float]) -> None:
        if waits:
            self._later(key, min(waits))

    # -- writes ---------------------------------------------------------------------------
    def _crr_path(self, namespace: str, name: str, subresource: str = "") -> str:
        return CRRS.path(namespace, name, subresource)

    async def _status(self, namespace: str, name: str, status: JsonObject) -> None:
        stored = await self._kube.patch(self._crr_path(namespace, name, "status"), {"status": status})
        self.crrs.store(stored)
        self._wrote(namespace, name, "completed" if status.get("phase") == "Completed" else "progressed")

    async def _act_controller(self, crr: ContainerRecreateRequest, plan: ControllerPlan) -> bool:
        namespace, name = str(crr.metadata.get("namespace")), str(crr.metadata.get("name"))
        try:
            if plan.delete:
                log.info("deleting ContainerRecreateRequest %s/%s: %s", namespace, name, plan.reason)
                await self._kube.delete(self._crr_path(namespace, name))
                self.crrs.objects.pop(f"{namespace}/{name}", None)
                self._wrote(namespace, name, "deleted")
                return True
            if plan.complete_message is not None:
                log.info(
                    "completing ContainerRecreateRequest %s/%s: %s", namespace, name, plan.complete_message
                )
                await self._complete(namespace, name, plan.complete_message)
                return True
            if plan.pod_status_patch is not None:
                pod_name = str(crr.spec.pod_name)
                path = PODS.path(namespace, pod_name, "status")
                self.pods.store(await self._kube.patch(path, plan.pod_status_patch, "strategic"))
                self._wrote(namespace, name, "progressed")
                return True
            if plan.metadata_patch is not None:
                stored = await self._kube.patch(
                    self._crr_path(namespace, name), {"metadata": plan.metadata_patch}
                )
                self.crrs.store(stored)
                self._wrote(namespace, name, "progressed")
                return True
        except NotFound:
            if plan.pod_status_patch is None:
                self.crrs.objects.pop(f"{namespace}/{name}", None)
            return True
        return False

    async def _complete(self, namespace: str, name: str, message: str) -> None:
        status = {"phase": "Completed", "completionTime": rfc3339(_now()), "message": message}
        await self._status(namespace, name, status)

    async def _act_pod(self, key: str, plan: PodPlan) -> bool:
        if plan.crr_name is None:
            return False
        namespace = key.partition("/")[0]
        name = plan.crr_name
        try:
            if plan.to_pending:
                for other in plan.to_pending:
                    await self._status(namespace, other, {"phase": "Pending"})
                return True
            if plan.set_phase is not None:
                await self._status(namespace, name, {"phase": plan.set_phase})
                return True
            if plan.complete_message is not None:
                log.info("ContainerRecreateRequest %s/%s completed: %s", namespace, name, plan.reason)
                await self._complete(namespace, name, plan.complete_message)
                return True
            if plan.states is not None and plan.stop is not None:
                self._stopping[key] = asyncio.create_task(self._stop_and_record(key, name, plan))
                return False  # nothing written yet: the task writes and queues the Pod again
            if plan.states is not None:
                await self._status(namespace, name, {"containerRecreateStates": list(plan.states)})
                return True
        except NotFound:
            return True
        return False

    async def _stop_and_record(self, key: str, name: str, plan: PodPlan) -> None:
        """The planned stop, then its states (kruise-daemon's kill and status patch), apart from
        the queue; a failed write is retried, then left to the next pass (which plans afresh)."""
        assert plan.stop is not None
        assert plan.states is not None
        namespace = key.partition("/")[0]
        states = plan.states
        try:
            try:
                await self._stop(key, plan)
            except CriError as exc:
                log.warning(
                    "stopping %s for %s/%s failed: %s", plan.stop.container_name, namespace, name, exc
                )
                states = stop_failed_states(plan, str(exc))
            path = self._crr_path(namespace, name, "status")
            for attempt in range(3):
                try:
                    self.crrs.store(
                        await self._kube.patch(path, {"status": {"containerRecreateStates": list(states)}})
                    )
                    break
                except NotFound:
                    break
                except KubeError as exc:
                    log.warning(
                        "writing the states of %s/%s failed (%s), attempt %d",
                        namespace,
                        name,
                        exc,
                        attempt + 1,
                    )
                    await asyncio.sleep(0.5 * 2**attempt)
        except (KubeError, CriError) as exc:  # the Event or the hook's I/O
            log.warning("stop for %s/%s failed: %s", namespace, name, exc)
        finally:
            self._stopping.pop(key, None)
            self.enqueue(key)

    async def _stop(self, key: str, plan: PodPlan) -> None:
        """kruise's ``KillContainer``: Event, the preStop hook (exec, httpGet; bounded by the
        grace, a failure is a ``FailedPreStopHook`` Event), then stop with the grace left."""
        assert plan.stop is not None
        stop = plan.stop
        pod = self.pods.objects.get(key) or {}
        if pod:
            await emit_event(self._kube, ObjectRef.of(pod), "Killing", stop.message, component=COMPONENT)
        grace = stop.grace_seconds
        if (stop.pre_stop_exec or stop.pre_stop) and grace > 0:
            started = _now()
            failure = await self._pre_stop(key, pod, stop, grace)
            if failure is not None:
                log.warning("preStop hook of %s failed: %s", stop.container_name, failure)
                if pod:
                    await emit_event(
                        self._kube,
                        ObjectRef.of(pod),
                        FAILED_PRE_STOP_HOOK,
                        failure,
                        event_type="Warning",
                        component=COMPONENT,
                    )
            grace -= int((_now() - started).total_seconds())
        await self._runtime.stop_container(stop.container_id, max(grace, 2))

    async def _pre_stop(self, key: str, pod: JsonObject, stop: StopContainer, grace: int) -> str | None:
        """Run the hook within ``grace`` seconds; the kubelet's failure message, or None."""
        namespace, _, name = key.partition("/")
        label = pod_label(name, namespace, str((pod.get("metadata") or {}).get("uid", "")))
        if stop.pre_stop_exec:
            try:
                code, output = await self._runtime.exec_sync(
                    stop.container_id, list(stop.pre_stop_exec), grace
                )
            except CriError as exc:
                code, output, error = -1, b"", str(exc)
            else:
                error = f"command '{' '.join(stop.pre_stop_exec)}' exited with {code}"
            if code == 0:
                return None
            return (
                f'Exec lifecycle hook ({list(stop.pre_stop_exec)}) for Container "{stop.container_name}" '
                f'in Pod "{label}" failed - error: {error}, message: "{output.decode(errors="replace")}"'
            )
        hook = plan_hook(stop.pre_stop or {}, stop.container_name, list(stop.ports), _pod_ip(pod), label)
        if isinstance(hook, InvalidHook):
            return hook.message
        if hook is None:
            return None
        return await run_http_get(hook, grace, stop.container_name, label)


def _pod_ip(pod: JsonObject) -> str:
    status = pod.get("status") or {}
    ips = [str(entry.get("ip")) for entry in status.get("podIPs") or () if entry.get("ip")]
    return ips[0] if ips else str(status.get("podIP") or "")


def _crr_key(crr: ContainerRecreateRequest) -> str:
    return f"{crr.metadata.get('namespace', '')}/{crr.metadata.get('name', '')}"
