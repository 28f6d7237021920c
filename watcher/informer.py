"""List+watch of one :class:`~watcher.config.WatchTarget`, feeding the :class:`~watcher.pipeline.Pipeline`.

Run by :mod:`watcher.service` (one task per target while this replica leads). Like client-go's
reflector: resume the watch from the checkpointed resourceVersion when there is one, else list
(paged, triggering every key) and watch from the list's resourceVersion; ask for bookmarks;
restart the watch from the last seen resourceVersion when the server ends it or the connection
drops; on ``410 Gone`` list again and trigger every key, and ask the owning types for a resync
(an owner whose owned objects all vanished during the gap must still be looked at); a
checkpointed resourceVersion ahead of the server's (etcd restored from a backup: the server would
hold such a watch open in silence) or one it refuses is treated the same way, never retried. Errors never
end the task: they are logged once per change, reported to readiness, and retried with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import orjson

from flotilla.runtime.errors import Gone, KubeError, NotFound, Terminal, Transient, error_from_response
from flotilla.runtime.health import Health
from watcher import metrics
from watcher.checkpoint import ahead_of, resource_version_rejected
from watcher.config import WatchTarget
from watcher.mapping import RawObject
from watcher.pipeline import Pipeline

log = logging.getLogger("flotilla.watcher.informer")

LIST_PAGE = 500
#: The readiness check that follows API server reachability.
API_CHECK = "kube"

JsonObject = dict[str, Any]


class KubeReader(Protocol):
    """What the informers need of :class:`flotilla.runtime.kube.KubeClient`."""

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> JsonObject: ...

    def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[JsonObject]: ...


class Backoff:
    """Exponential backoff with jitter, 0.5 s up to 30 s; reset after a success."""

    def __init__(self, initial: float = 0.5, cap: float = 30.0) -> None:
        self._initial, self._cap, self._next = initial, cap, initial

    def reset(self) -> None:
        self._next = self._initial

    async def sleep(self) -> None:
        delay = self._next * random.uniform(0.8, 1.2)
        self._next = min(self._cap, self._next * 2)
        await asyncio.sleep(delay)


def _items(page: JsonObject) -> list[RawObject]:
    items = page.get("items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _metadata(obj: JsonObject) -> JsonObject:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _selector(target: WatchTarget) -> dict[str, str]:
    return {"labelSelector": target.label_selector} if target.label_selector else {}


async def list_all(
    kube: KubeReader, target: WatchTarget, namespace: str | None
) -> tuple[list[RawObject], str]:
    """Every object of ``target`` (paged, one consistent snapshot) and the list's resourceVersion."""
    path = target.resource.collection_path(namespace)
    query = {"limit": str(LIST_PAGE), **_selector(target)}
    objects: list[RawObject] = []
    list_rv = ""
    while True:
        page = await kube.get(path, query)
        meta = _metadata(page)
        list_rv = list_rv or str(meta.get("resourceVersion") or "")
        objects.extend(_items(page))
        token = meta.get("continue")
        if not token:
            return objects, list_rv
        query["continue"] = str(token)


class Informer:
    """One target's list+watch loop; :meth:`run` returns only when cancelled."""

    def __init__(
        self,
        kube: KubeReader,
        target: WatchTarget,
        pipeline: Pipeline,
        health: Health,
        namespace: str | None,
        watch_timeout: int,
        on_gone: Callable[[WatchTarget], None],
    ) -> None:
        self.kube, self.target, self.pipeline, self.health = kube, target, pipeline, health
        self.namespace, self.watch_timeout, self.on_gone = namespace, watch_timeout, on_gone
        self.resource_version = ""
        self._last_problem = ""
        self._check = f"watch {target.resource}" + (
            f" ({target.label_selector})" if target.label_selector else ""
        )

    def _recovered(self) -> None:
        if self._last_problem:
            log.info("%s: recovered", self._check)
        self._last_problem = ""
        self.health.set_ready(self._check)
        self.health.set_ready(API_CHECK)

    def _fail(self, check: str, problem: str) -> None:
        """Report a problem to readiness; log it when it is new (not at every retry)."""
        if problem != self._last_problem:
            log.error("%s: %s (retrying with backoff)", check, problem)
            self._last_problem = problem
        self.health.set_not_ready(check, problem)

    async def relist(self, reason: str) -> None:
        objects, list_rv = await list_all(self.kube, self.target, self.namespace)
        keys = self.pipeline.relist(self.target, self.target, objects, list_rv)
        metrics.RELISTS.labels(str(self.target.resource), reason).inc()
        log.info(
            "listed %s (%s): %d objects, %d keys triggered, rv %s",
            self.target.resource,
            reason,
            len(objects),
            keys,
            list_rv,
        )
        self.resource_version = list_rv
        self._recovered()

    async def _current_resource_version(self) -> str:
        """The server's current resourceVersion (a one-item quorum list); "" when it cannot say."""
        try:
            page = await self.kube.get(
                self.target.resource.collection_path(self.namespace), {"limit": "1", **_selector(self.target)}
            )
        except KubeError:  # the API is away: the watch loop reports and retries that
            return ""
        return str(_metadata(page).get("resourceVersion") or "")

    async def probe(self) -> None:
        """A one-item list: after a failure, readiness recovers without waiting for an event."""
        await self.kube.get(
            self.target.resource.collection_path(self.namespace), {"limit": "1", **_selector(self.target)}
        )
        self._recovered()

    async def watch_once(self) -> None:
        """One watch request from ``self.resource_version`` until the server ends it."""
        query = {
            "resourceVersion": self.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(random.randint(self.watch_timeout, 2 * self.watch_timeout)),
            **_selector(self.target),
        }
        path = self.target.resource.collection_path(self.namespace)
        async for event in self.kube.watch(path, query):
            kind = event.get("type")
            obj = event.get("object")
            if not isinstance(obj, dict):
                continue
            if kind == "ERROR":
                code = obj.get("code")
                raise error_from_response(
                    code if isinstance(code, int) else 500, orjson.dumps(obj), method="WATCH", path=path
                )
            rv = str(_metadata(obj).get("resourceVersion") or "")
            if kind == "BOOKMARK":
                self.pipeline.bookmark(self.target, rv)
            elif kind in ("ADDED", "MODIFIED", "DELETED"):
                self.pipeline.event(self.target, str(kind), obj)
            if rv:
                self.resource_version = rv

    async def run(self, start_rv: str) -> None:
        """List/watch forever, starting from ``start_rv`` (a checkpoint) or a fresh list when empty."""
        self.resource_version = start_rv
        backoff = Backoff()
        if start_rv:
            log.info("resuming watch of %s from checkpointed rv %s", self.target.resource, start_rv)
            current = await self._current_resource_version()
            if ahead_of(start_rv, current):
                log.warning(
                    "watch of %s: the checkpointed rv %s is ahead of the API server's current rv %s "
                    "(etcd restored from a backup, or a checkpoint of another cluster?), relisting",
                    self.target.resource,
                    start_rv,
                    current,
                )
                await self._restart_from_list("ahead", backoff)
        while True:
            try:
                if not self.resource_version:
                    await self.relist("initial")
                elif self._last_problem:
                    await self.probe()
                else:
                    self.health.set_ready(self._check)
                await self.watch_once()
                backoff.reset()
            except Gone:
                log.warning(
                    "watch of %s: rv %s is gone (410), relisting", self.target.resource, self.resource_version
                )
                await self._restart_from_list("gone", backoff)
            except KubeError as err:
                if self.resource_version and resource_version_rejected(err):
                    log.warning(
                        "watch of %s: the API server refuses rv %s (%s), relisting",
                        self.target.resource,
                        self.resource_version,
                        err,
                    )
                    await self._restart_from_list("rejected", backoff)
                elif isinstance(err, Transient):
                    self._fail(API_CHECK, f"API server unreachable or failing: {err}")
                    await backoff.sleep()
                else:
                    self._fail(self._check, self._explain(err))
                    await backoff.sleep()

    async def _restart_from_list(self, reason: str, backoff: Backoff) -> None:
        """Relist (triggering every key) and have the owning types resynced: the watch cannot go on
        from the resourceVersion it had, so what changed since is unknown."""
        self.resource_version = ""
        try:
            await self.relist(reason)
        except KubeError as err:
            self._fail(self._check, f"relist after a refused watch ({reason}) failed: {err}")
            await backoff.sleep()
            return
        self.on_gone(self.target)

    def _explain(self, err: KubeError) -> str:
        resource = self.target.resource
        if isinstance(err, Terminal) and err.status in (401, 403):
            return (
                f"RBAC forbids list/watch of {resource} ({err}); grant the watcher's ServiceAccount "
                f"'list' and 'watch' on {resource.plural} in "
                + (f"API group '{resource.group}'" if resource.group else "the core API group")
            )
        if isinstance(err, NotFound):
            return f"{resource} is not served by the API server (is its CRD installed?): {err}"
        return f"list/watch of {resource} failed: {err}"
