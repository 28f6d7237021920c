"""The node agent's containermeta loop: the shell around :mod:`nodeagent.containermeta.planner`.

Shares the CRR loop's watch of this node's Pods (a listener on its reflector). A Pod change the
planner's :func:`~nodeagent.containermeta.planner.wanted` keeps queues the Pod's key after 1 s
(kruise's ``enqueueAfter``; a key already waiting keeps its time). A pass reads the Pod's
containers from the runtime (CRI ``ListContainers`` + ``ContainerStatus``), runs ``env`` in the
running containers whose environment the planner asks for (CRI ``ExecSync``, 3 s, as kruise's
``wrapEnvGetter``), plans, writes the ``apps.kruise.io/runtime-containers-meta`` annotation with
a strategic merge patch on ``pods/status`` when the report changed (and keeps the Pod the API
server returned: kruise's resourceVersion expectation), and restarts the containers the plan
names 3 s later (kruise's restarter queue: first delay 3 s): a ``Killing`` Event, then CRI
``StopContainer`` with the Pod's ``terminationGracePeriodSeconds`` (at least 2 s) if the container
still runs (no preStop hook: kruise's kill runs it; a difference, docs/nodeagent.md);
the kubelet starts it again with the Pod's current metadata. A failed pass is retried with
backoff (0.5 s doubling to 50 s, kruise's rate limiter); nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from flotilla.runtime.errors import KubeError, NotFound
from flotilla.runtime.kube import KubeClient
from flotilla.runtime.logs import reconcile_context
from nodeagent.containermeta.planner import (
    env_reads,
    parse_environment,
    plan_meta,
    report_patch,
    should_sync,
    wanted,
)
from nodeagent.cri.runtime import CriError, CriRuntime
from nodeagent.crr.agent import PODS
from nodeagent.reflector import Reflector
from workers.podmechanics.envmeta import meta_set_of
from workers.runtime.events import ObjectRef, emit_event

log = logging.getLogger("flotilla.nodeagent.containermeta")

COMPONENT = "flotilla-node-agent-containermeta"
#: kruise's ``enqueue``: a Pod change is looked at 1 s later (changes in between are one pass).
ENQUEUE_DELAY = 1.0
#: kruise's restarter queue: the first restart of a container is 3 s after it was asked.
RESTART_DELAY = 3.0
#: ``ExecSync`` of ``env``: kruise's 3 s.
ENV_TIMEOUT_SECONDS = 3
#: The kubelet's default when a Pod does not say (it always does after API defaulting), and the
#: least it gives (``minimumGracePeriodInSeconds``).
DEFAULT_GRACE_SECONDS = 30
MIN_GRACE_SECONDS = 2

JsonObject = dict[str, Any]


class ContainerMetaAgent:
    """Reports the running containers of this node's kruise Pods and restarts those whose env
    from metadata changed (kruise-daemon's containermeta)."""

    def __init__(
        self, kube: KubeClient, runtime: CriRuntime, pods: Reflector, *, env_from_metadata: bool
    ) -> None:
        self._kube = kube
        self._runtime = runtime
        self._pods = pods
        self._env = env_from_metadata
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._seen: dict[str, JsonObject] = {}
        #: containerID -> the restart waiting or running for it.
        self._restarts: dict[str, asyncio.TimerHandle | asyncio.Task[None]] = {}
        pods.add_listener(self._pod_changed)

    # -- triggers -------------------------------------------------------------------------
    def _pod_changed(self, key: str, pod: JsonObject | None) -> None:
        old = self._seen.pop(key, None)
        if pod is None:
            return
        self._seen[key] = pod
        # kruise's AddFunc: a Pod first seen without a report waits for its next change
        if old is None and meta_set_of(pod) is None:
            return
        if wanted(old, pod, env_from_metadata=self._env) and should_sync(pod):
            self._later(key, ENQUEUE_DELAY, keep=True)

    def enqueue(self, key: str) -> None:
        self._timers.pop(key, None)
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def _later(self, key: str, seconds: float, *, keep: bool = False) -> None:
        old = self._timers.get(key)
        if old is not None:
            if keep:
                return
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(seconds, self.enqueue, key)

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        await self._pods.synced.wait()
        log.info("containermeta: reporting the runtime containers of kruise Pods on this node")
        try:
            while True:
                key = await self._queue.get()
                self._queued.discard(key)
                try:
                    with reconcile_context(key):
                        await self.sync(key)
                    self._failures.pop(key, None)
                except (KubeError, CriError) as exc:
                    count = self._failures[key] = self._failures.get(key, 0) + 1
                    delay = min(0.5 * 2 ** (count - 1), 50.0)
                    log.warning("containermeta of pod %s failed (%s); retrying in %.1fs", key, exc, delay)
                    self._later(key, delay)
        finally:
            for handle in [*self._timers.values(), *self._restarts.values()]:
                handle.cancel()

    async def sync(self, key: str) -> None:
        """One pass on a Pod: read its containers (and envs), report, restart (raises on I/O)."""
        pod = self._pods.objects.get(key)
        if pod is None or not should_sync(pod):
            return
        statuses = (pod.get("status") or {}).get("containerStatuses") or ()
        if not any(s.get("containerID") for s in statuses):
            return  # no container started yet (kruise: no runtime for the Pod)
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        containers = await self._runtime.pod_containers(uid)
        environments: dict[str, dict[str, str] | None] = {}
        for container_id in env_reads(pod, containers, env_from_metadata=self._env):
            environments[container_id] = await self._environment(container_id)
        plan = plan_meta(pod, containers, environments, env_from_metadata=self._env)
        if plan.annotation is not None:
            namespace, _, name = key.partition("/")
            log.info("reporting container meta of pod %s: %s", key, plan.annotation)
            try:
                stored = await self._kube.patch(
                    PODS.path(namespace, name, "status"), report_patch(plan.annotation), "strategic"
                )
            except NotFound:
                return
            self._pods.store(stored)
        for container_id in plan.restart:
            if container_id not in self._restarts:
                log.info("restarting %s of pod %s: its env from metadata changed", container_id, key)
                self._restarts[container_id] = asyncio.get_running_loop().call_later(
                    RESTART_DELAY, self._start_restart, key, container_id
                )
        if plan.retry_after is not None:
            self._later(key, plan.retry_after)

    async def _environment(self, container_id: str) -> dict[str, str] | None:
        try:
            code, output = await self._runtime.exec_sync(container_id, ["env"], ENV_TIMEOUT_SECONDS)
        except CriError as exc:
            log.warning("reading the environment of %s failed: %s", container_id, exc)
            return None
        if code != 0:
            log.warning("env in %s exited with %d: %s", container_id, code, output[:200])
            return None
        return parse_environment(output)

    # -- restarts -------------------------------------------------------------------------
    def _start_restart(self, key: str, container_id: str) -> None:
        self._restarts[container_id] = asyncio.create_task(self._restart(key, container_id))

    async def _restart(self, key: str, container_id: str) -> None:
        """kruise's restarter: stop the container if it still runs; the kubelet starts it again."""
        try:
            pod = self._pods.objects.get(key)
            if pod is None:
                return
            uid = str((pod.get("metadata") or {}).get("uid", ""))
            running = [
                c
                for c in await self._runtime.pod_containers(uid)
                if c.container_id == container_id and c.state == "running"
            ]
            if not running:
                return
            message = f"Stopping containerID {container_id} by container meta restarter"
            ref = ObjectRef.of({"apiVersion": "v1", "kind": "Pod", **pod})
            await emit_event(self._kube, ref, "Killing", message, component=COMPONENT)
            raw = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            grace = raw if isinstance(raw, int) else DEFAULT_GRACE_SECONDS
            await self._runtime.stop_container(container_id, max(grace, MIN_GRACE_SECONDS))
        except (KubeError, CriError) as exc:
            log.warning("restarting %s of pod %s failed: %s", container_id, key, exc)
        finally:
            self._restarts.pop(container_id, None)
            self.enqueue(key)
