"""The label selectors of a type's objects, per namespace: who would adopt an ownerless pod.

Pure, no I/O. Kruise's CloneSet pod event handler enqueues, for a pod without a controller
ownerReference, every CloneSet of the pod's namespace whose selector matches the pod's labels
(``getPodCloneSets``: a selector that does not parse or is empty is skipped), so an orphan is
adopted at once rather than at the next resync. The watcher does the same without a cache of
CloneSets: :class:`SelectorIndex` keeps ``spec.selector`` of each primary object, fed by the
type's own primary watch (:mod:`watcher.pipeline`), and :mod:`watcher.mapping` asks it
:meth:`SelectorIndex.matching` for the rule ``controller-owner-or-selector``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from schemas.kruise.pub import LabelSelector
from schemas.kruise.selectors import selector_error, selector_matches

#: A decoded Kubernetes object (``orjson.loads`` output).
RawObject = Mapping[str, object]


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def object_selector(obj: RawObject) -> LabelSelector | None:
    """``spec.selector`` of ``obj`` when it is a usable selector; None when absent, malformed or empty."""
    raw = _mapping(obj.get("spec")).get("selector")
    if not isinstance(raw, dict):
        return None
    try:
        selector = LabelSelector.model_validate(raw)
    except ValidationError:
        return None
    return None if selector_error(selector) else selector


def object_labels(obj: RawObject) -> dict[str, str]:
    labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True, slots=True)
class Entry:
    """One object's selector, by namespace and name."""

    namespace: str
    name: str
    selector: LabelSelector


def entry_of(obj: RawObject) -> Entry | None:
    meta = _mapping(obj.get("metadata"))
    name = meta.get("name")
    selector = object_selector(obj)
    if not isinstance(name, str) or not name or selector is None:
        return None
    return Entry(str(meta.get("namespace") or ""), name, selector)


class SelectorIndex:
    """type -> namespace -> name -> selector; kept from the type's primary watch and lists."""

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str, dict[str, LabelSelector]]] = {}

    def observe(self, type_name: str, obj: RawObject, deleted: bool) -> None:
        """One watch event of a primary object: remember, update or forget its selector."""
        meta = _mapping(obj.get("metadata"))
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        spaces = self._by_type.setdefault(type_name, {})
        names = spaces.setdefault(namespace, {})
        entry = None if deleted else entry_of(obj)
        if entry is None:  # deleted, or its selector is unusable: it adopts nothing
            names.pop(name, None)
            if not names:
                spaces.pop(namespace, None)
        else:
            names[name] = entry.selector

    def replace(self, type_name: str, objects: Iterable[RawObject]) -> None:
        """A full list of the type's primary objects (the list replaces what was known)."""
        spaces: dict[str, dict[str, LabelSelector]] = {}
        for obj in objects:
            entry = entry_of(obj)
            if entry is not None:
                spaces.setdefault(entry.namespace, {})[entry.name] = entry.selector
        self._by_type[type_name] = spaces

    def matching(self, type_name: str, namespace: str, labels: Mapping[str, str]) -> tuple[str, ...]:
        """Names of the type's objects in ``namespace`` whose selector matches ``labels``, sorted."""
        names = self._by_type.get(type_name, {}).get(namespace, {})
        return tuple(sorted(name for name, selector in names.items() if selector_matches(selector, labels)))

    def count(self, type_name: str) -> int:
        return sum(len(names) for names in self._by_type.get(type_name, {}).values())
