"""The one read port of observed state: every worker's ``observe`` reads through a StateReader.

Today :class:`ApiStateReader` does consistent reads from the API server (no resourceVersion,
so a reconcile always sees its own earlier writes). A faster source (a JetStream KV mirror
with a resourceVersion watermark) can replace it here without touching planners. What it reads
is kept without ``metadata.managedFields`` (:func:`without_managed_fields`): no worker reads
them, and they are a large part of every pod a reconcile holds while it acts.

:func:`current_trigger` tells ``observe`` which trigger the running reconcile answers (the
consumer sets it with :func:`answering`): a hint for what is worth reading (e.g. a read that
only looks for what the trigger already explains), never a source of state to plan from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import JsonObject, KubeClient, Resource
from schemas.bus.envelope import Envelope

_TRIGGER: ContextVar[Envelope | None] = ContextVar("flotilla_trigger", default=None)


def current_trigger() -> Envelope | None:
    """The trigger the running reconcile answers (the newest, when triggers for the key were
    coalesced); None outside the consumer (tests, tools)."""
    return _TRIGGER.get()


@contextmanager
def answering(envelope: Envelope) -> Iterator[None]:
    """Within this block :func:`current_trigger` is ``envelope``."""
    token = _TRIGGER.set(envelope)
    try:
        yield
    finally:
        _TRIGGER.reset(token)


class StateReader(Protocol):
    async def get(self, resource: Resource, namespace: str, name: str) -> JsonObject | None:
        """The object, or None when it does not exist."""
        ...

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[JsonObject]:
        """The items matching the selectors (all of them; paginated reads are joined)."""
        ...


class PrimaryRecorder:
    """A StateReader for one reconcile that keeps the key's own object when ``observe`` reads it.

    The runtime looks at it after a clean reconcile to clear a dead letter's mark
    (:func:`workers.runtime.deadletter.clear_mark`) without reading the object again.
    """

    def __init__(self, inner: StateReader, resource: Resource, namespace: str, name: str) -> None:
        self.inner = inner
        self._ref = (resource, namespace, name)
        self.primary: JsonObject | None = None

    async def get(self, resource: Resource, namespace: str, name: str) -> JsonObject | None:
        found = await self.inner.get(resource, namespace, name)
        if (resource, namespace, name) == self._ref:
            self.primary = found
        return found

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[JsonObject]:
        return await self.inner.list(resource, namespace, label_selector, field_selector)


def without_managed_fields(obj: JsonObject) -> JsonObject:
    """``obj`` with its ``metadata.managedFields`` dropped (in place; returned for chaining).

    The API server's field-management bookkeeping, one entry per manager and operation with the
    set of fields it owns: 48 % of a CloneSet pod's decoded size (21.2 KB -> 11.0 KB per pod,
    measured by ``benchmarks/scale_profile.py``). No worker reads it, and a PUT without it
    keeps the server's entries (the API server's field manager takes the live object's
    ``managedFields`` when a request's are empty, "to prevent clients who don't understand
    managedFields from deleting it accidentally"; only an explicit ``[{}]`` resets them).
    """
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj


class ApiStateReader:
    """Consistent reads from the API server, raw JSON into dicts (without ``managedFields``)."""

    def __init__(self, api: KubeClient, page_size: int = 500) -> None:
        self.api = api
        self.page_size = page_size

    async def get(self, resource: Resource, namespace: str, name: str) -> JsonObject | None:
        try:
            return without_managed_fields(await self.api.get(resource.path(namespace, name)))
        except NotFound:
            return None

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[JsonObject]:
        params = {"limit": str(self.page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        items: list[JsonObject] = []
        while True:
            page = await self.api.get(resource.path(namespace), params)
            items.extend(without_managed_fields(item) for item in page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = str(token)
