"""A selected list+watch kept in memory: the node agent's view of its own node's objects.

The agent watches only what concerns its node, selected by the API server: ContainerRecreateRequests
by kruise's ``crr.apps.kruise.io/node-name`` label, Pods by the ``spec.nodeName`` field (as the
kubelet does). Each change calls ``on_change(key, object or None)`` and every listener added
(:meth:`Reflector.add_listener`). Like client-go's reflector:
list, then watch from the list's resourceVersion; resume from the last seen version when the
watch ends; list again on ``410 Gone`` or any error (with backoff), reporting every key again
(and the vanished ones as deleted). Never ends on an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from flotilla.runtime.errors import Gone, KubeError
from flotilla.runtime.kube import KubeClient, Resource

log = logging.getLogger("flotilla.nodeagent.reflector")

JsonObject = dict[str, Any]


def object_key(obj: JsonObject) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class Reflector:
    """The objects of one resource matching a selector, by ``namespace/name``."""

    def __init__(
        self,
        kube: KubeClient,
        resource: Resource,
        selector: dict[str, str],
        on_change: Callable[[str, JsonObject | None], None],
    ) -> None:
        self._kube = kube
        self._resource = resource
        self._selector = selector
        self._listeners = [on_change]
        self.objects: dict[str, JsonObject] = {}
        self.synced = asyncio.Event()

    def add_listener(self, on_change: Callable[[str, JsonObject | None], None]) -> None:
        """Call ``on_change`` too on every change (one watch serves the agent's parts)."""
        self._listeners.append(on_change)

    def _on_change(self, key: str, obj: JsonObject | None) -> None:
        for listener in self._listeners:
            listener(key, obj)

    def store(self, obj: JsonObject) -> None:
        """Take a newer version we wrote ourselves (kruise's resourceVersion expectation)."""
        key = object_key(obj)
        old = self.objects.get(key)
        if old is None or _rv(obj) >= _rv(old):
            self.objects[key] = obj

    async def _list(self) -> str:
        page = await self._kube.get(self._resource.collection_path(None), params=self._selector)
        fresh = {object_key(item): item for item in page.get("items") or ()}
        gone = set(self.objects) - set(fresh)
        self.objects = fresh
        for key in gone:
            self._on_change(key, None)
        for key, item in fresh.items():
            self._on_change(key, item)
        self.synced.set()
        return str((page.get("metadata") or {}).get("resourceVersion", ""))

    async def run(self) -> None:
        delay = 0.5
        version = ""
        while True:
            try:
                if not version:
                    version = await self._list()
                params = {
                    **self._selector,
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "300",
                }
                async for event in self._kube.watch(self._resource.collection_path(None), params):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        raise Gone(str(obj.get("message", "watch error")))
                    version = str((obj.get("metadata") or {}).get("resourceVersion", version))
                    if kind == "BOOKMARK":
                        continue
                    key = object_key(obj)
                    if kind == "DELETED":
                        self.objects.pop(key, None)
                        self._on_change(key, None)
                    else:
                        self.store(obj)
                        self._on_change(key, self.objects[key])
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except (KubeError, Gone) as exc:
                log.warning(
                    "watch of %s %s ended: %s; listing again in %.1fs",
                    self._resource,
                    self._selector,
                    exc,
                    delay,
                )
                version = ""
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _rv(obj: JsonObject) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion", "0"))
    except ValueError:
        return 0
