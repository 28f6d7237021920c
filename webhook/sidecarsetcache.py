"""The webhook's SidecarSets (and kruise's configuration ConfigMap), kept by list+watch instead of
read on every request.

kruise reads SidecarSets from its informer cache when it injects a pod; so does ``flotilla
webhook``: one background task (:meth:`WatchCache.run`) lists them once (paged), then watches
from the list's resourceVersion with bookmarks, resuming from the last version it saw after a
dropped watch, and lists again only when the API server answers 410 Gone. Until the first list
has landed the cache is not synced: the process reports ``/readyz`` not ready (check
``sidecarsets``) and :class:`CachedCluster` answers from a direct list, so an early pod is never
injected from an empty cache. A cluster without the SidecarSet CRD yet counts as synced and
empty, and is listed again every :data:`ABSENT_RETRY_SECONDS`.

:class:`WatchCache` is that mechanism for any collection (a namespace, a field selector):
:class:`SidecarSetCache` keeps every SidecarSet; :func:`configmap_cache` keeps one ConfigMap
(``kruise-configuration``: the patchPodMetadata whitelist a SidecarSet is checked against).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from flotilla.runtime.errors import Gone, KubeError, NotFound
from flotilla.runtime.kube import CONFIGMAPS, JsonObject, KubeClient, Resource

log = logging.getLogger(__name__)

SIDECARSETS = Resource("apps.kruise.io", "v1beta1", "sidecarsets", "SidecarSet", namespaced=False)
PAGE = "500"
WATCH_TIMEOUT_SECONDS = "300"
ABSENT_RETRY_SECONDS = 30.0
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class WatchCache:
    """Every object of one collection by name, as the last event left it. ``path`` is the
    collection's path, ``selector`` extra list/watch parameters (a ``fieldSelector``), ``what``
    the name logs use."""

    def __init__(
        self,
        kube: KubeClient,
        path: str,
        what: str,
        selector: Mapping[str, str] | None = None,
        on_synced: Callable[[], None] = lambda: None,
        on_unsynced: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.kube = kube
        self.path = path
        self.what = what
        self.selector = dict(selector or {})
        self._items: dict[str, JsonObject] = {}
        self._version = ""
        self._synced = asyncio.Event()
        self._on_synced = on_synced
        self._on_unsynced = on_unsynced
        self.lists = 0
        """How many full lists were made (the first, and one per 410 Gone)."""

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def items(self) -> list[JsonObject]:
        """The objects, sorted by name (kruise's lister order does not matter: injection sorts)."""
        return [self._items[name] for name in sorted(self._items)]

    def get(self, name: str) -> JsonObject | None:
        return self._items.get(name)

    async def _list(self) -> None:
        items: dict[str, JsonObject] = {}
        token, version = "", ""
        while True:
            params = {**self.selector, "limit": PAGE, **({"continue": token} if token else {})}
            page = await self.kube.get(self.path, params)
            for item in page.get("items") or []:
                if isinstance(item, dict):
                    items[_name(item)] = item
            meta = page.get("metadata") or {}
            version = str(meta.get("resourceVersion") or version)
            token = str(meta.get("continue") or "")
            if not token:
                break
        self._items, self._version = items, version
        self.lists += 1
        self._synced.set()
        self._on_synced()
        log.info("%s cache listed %d %s(s) at resourceVersion %s", self.what, len(items), self.what, version)

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, dict):
            return
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone(str(obj.get("message") or "watch expired"), status=410, reason="Expired")
            raise KubeError(f"watch error: {obj.get('message') or obj}")
        if kind in ("ADDED", "MODIFIED"):
            self._items[_name(obj)] = obj
        elif kind == "DELETED":
            self._items.pop(_name(obj), None)
        if _version(obj):
            self._version = _version(obj)

    async def _watch(self) -> None:
        params = {
            **self.selector,
            "resourceVersion": self._version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": WATCH_TIMEOUT_SECONDS,
        }
        async for event in self.kube.watch(self.path, params):
            self._apply(event)

    async def run(self, stop: asyncio.Event) -> None:
        """List, then watch and resume until ``stop``; never raises for API errors."""
        failures = 0
        must_list = True
        while not stop.is_set():
            try:
                if must_list:
                    await self._list()
                    must_list = False
                await self._watch()
                failures = 0
                continue  # the server ended the watch (timeoutSeconds): resume from the last version
            except NotFound:
                # No such API (the SidecarSet CRD not installed yet): nothing to read; look again later.
                self._items, self._version = {}, ""
                self._synced.set()
                self._on_synced()
                must_list = True
                delay = ABSENT_RETRY_SECONDS
                log.info("no %s API yet; the cache is empty, listed again in %gs", self.what, delay)
            except Gone:
                must_list = True
                delay = 0.0
                log.info("%s watch expired (410): listing again", self.what)
            except KubeError as err:
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                if not self.synced:
                    self._on_unsynced(str(err))
                log.warning("%s cache: %s (again in %gs)", self.what, err, delay)
            if delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)


class SidecarSetCache(WatchCache):
    """Every SidecarSet (cluster-scoped) by name."""

    def __init__(
        self,
        kube: KubeClient,
        on_synced: Callable[[], None] = lambda: None,
        on_unsynced: Callable[[str], None] = lambda reason: None,
    ) -> None:
        super().__init__(kube, SIDECARSETS.collection_path(None), "SidecarSet", None, on_synced, on_unsynced)


def configmap_cache(kube: KubeClient, namespace: str, name: str) -> WatchCache:
    """The one ConfigMap ``namespace/name`` (a field selector on its name; absent: no item)."""
    return WatchCache(
        kube, CONFIGMAPS.collection_path(namespace), "ConfigMap", {"fieldSelector": f"metadata.name={name}"}
    )
