"""Follow a set of pods through one watch and time when a condition on them first holds.

`PodTracker` lists the pods matching a label selector, then watches them (relisting on
errors and 410 Gone), keeping a small `PodState` per pod. `wait_until` returns the
``time.monotonic()`` of the event after which the predicate first held, so a benchmark's
elapsed time is "start of the step -> last pod turned Ready", not "-> when we polled".
Predicates here are pure functions of the states (`ready_count`, `all_updated`).
Used by ``benchmarks/cloneset_scenarios.py``; any benchmark timing pods may reuse it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import PODS, KubeClient

#: What a predicate sees: pod name -> state.
Pods = Mapping[str, "PodState"]


@dataclass(frozen=True)
class PodState:
    """What the benchmarks need to know about one pod."""

    uid: str
    ready: bool
    deleting: bool
    #: The image the first container's spec asks for, and the one its status reports running.
    spec_image: str
    running_image: str | None

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodState:
        metadata = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        containers = spec.get("containers") or [{}]
        statuses = status.get("containerStatuses") or []
        conditions = status.get("conditions") or []
        return cls(
            uid=str(metadata.get("uid", "")),
            ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
            deleting=metadata.get("deletionTimestamp") is not None,
            spec_image=str(containers[0].get("image", "")),
            running_image=statuses[0].get("image") if statuses else None,
        )


def ready_count(pods: Pods) -> int:
    """Pods that are Ready and not being deleted."""
    return sum(1 for p in pods.values() if p.ready and not p.deleting)


def all_updated(pods: Pods, size: int, image: str) -> bool:
    """Exactly ``size`` live pods, every one Ready and running ``image``."""
    live = [p for p in pods.values() if not p.deleting]
    return len(live) == size and all(p.ready and p.running_image == image for p in live)


class PodTracker:
    """The live pods of one namespace + label selector, kept current by a watch."""

    def __init__(self, client: KubeClient, namespace: str, selector: str) -> None:
        self.client = client
        self.namespace = namespace
        self.selector = selector
        self.pods: dict[str, PodState] = {}
        #: Every pod uid seen since the tracker started (to count pods replaced by an update).
        self.uids_seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[Callable[[Pods], bool], asyncio.Future[float]]] = []
        self._listed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._listed.wait(), 60)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._waiters:
            if not future.done():
                future.cancel()

    async def wait_until(self, predicate: Callable[[Pods], bool], within: float) -> float:
        """The monotonic time at which ``predicate`` first held; TimeoutError after ``within`` s."""
        if predicate(self.pods):
            return time.monotonic()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(asyncio.shield(future), within)
        finally:
            self._waiters.remove(entry)

    # ------------------------------------------------------------------ internals
    def _notify(self) -> None:
        now = time.monotonic()
        for predicate, future in self._waiters:
            if not future.done() and predicate(self.pods):
                future.set_result(now)

    async def _list(self) -> str:
        listing = await self.client.get(PODS.path(self.namespace), {"labelSelector": self.selector})
        self.pods = {}
        for pod in listing.get("items") or []:
            self._apply("ADDED", pod)
        self._listed.set()
        self._notify()
        return str(listing["metadata"]["resourceVersion"])

    def _apply(self, kind: str, pod: Mapping[str, Any]) -> None:
        name = str(pod["metadata"]["name"])
        if kind == "DELETED":
            self.pods.pop(name, None)
            return
        state = PodState.from_pod(pod)
        self.pods[name] = state
        self.uids_seen.add(state.uid)

    async def _run(self) -> None:
        version = ""
        while True:
            try:
                if not version:
                    version = await self._list()
                params = {
                    "labelSelector": self.selector,
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "240",
                }
                async for event in self.client.watch(PODS.path(self.namespace), params):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        version = ""  # 410 Gone or similar: relist
                        break
                    version = str(obj.get("metadata", {}).get("resourceVersion", version))
                    if kind == "BOOKMARK":
                        continue
                    self._apply(str(kind), obj)
                    self._notify()
            except KubeError:
                version = ""
                await asyncio.sleep(0.5)
