"""The label selectors of a type's objects, per namespace: who would adopt an ownerless pod.

Pure, no I/O. Kruise's CloneSet pod event handler enqueues, for a pod without a controller
ownerReference, every CloneSet of the pod's namespace whose selector matches the pod's labels
(``getPodCloneSets``: a selector that does not parse or is empty is skipped), so an orphan is
adopted at once rather than at the next resync. The watcher does the same without a cache of
CloneSets: :class:`SelectorIndex` keeps ``spec.selector`` of each primary object, fed by the
type's own primary watch (:mod:`watcher.pipeline`), and :mod:`watcher.mapping` asks it
:meth:`SelectorIndex.matching` for the rule ``controller-owner-or-selector``.

PodUnavailableBudgets select pods by ``spec.selector`` or name a workload in ``spec.targetRef``; the
index keeps that reference too (:meth:`SelectorIndex.targeting`) for the rules ``related-pub`` and
``pub-target`` (kruise's PUB pod and workload event handlers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from schemas.kruise.selectors import selector_error, selector_matches

#: A decoded Kubernetes object (``orjson.loads`` output).
RawObject = Mapping[str, object]


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed ``metav1.LabelSelector`` (plain data: the watcher does not load the API models)."""

    match_labels: dict[str, str] | None = None
    match_expressions: tuple[Requirement, ...] | None = field(default=None)


def _strings(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("values must be a list of strings")
    return tuple(value)


def parse_selector(raw: object) -> LabelSelector | None:
    """A selector from its JSON, or None when it is not one (what ``LabelSelectorAsSelector`` refuses)."""
    if not isinstance(raw, dict):
        return None
    labels, expressions = raw.get("matchLabels"), raw.get("matchExpressions")
    if labels is not None and not (
        isinstance(labels, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        return None
    requirements: list[Requirement] = []
    if expressions is not None:
        if not isinstance(expressions, list):
            return None
        for item in expressions:
            if not isinstance(item, dict):
                return None
            key, operator = item.get("key"), item.get("operator")
            if not isinstance(key, str) or operator not in _OPERATORS:
                return None
            try:
                requirements.append(Requirement(key, str(operator), _strings(item.get("values"))))
            except ValueError:
                return None
    return LabelSelector(labels, tuple(requirements) if expressions is not None else None)


def object_selector(obj: RawObject) -> LabelSelector | None:
    """``spec.selector`` of ``obj`` when it is a usable selector; None when absent, malformed or empty."""
    selector = parse_selector(_mapping(obj.get("spec")).get("selector"))
    if selector is None:
        return None
    return None if selector_error(selector) else selector


def object_labels(obj: RawObject) -> dict[str, str]:
    labels = _mapping(_mapping(obj.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


@dataclass(frozen=True, slots=True)
class TargetRef:
    """A workload named by ``spec.targetRef``: API group (any version), kind, name."""

    group: str
    kind: str
    name: str


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def object_target(obj: RawObject) -> TargetRef | None:
    """``spec.targetRef`` of ``obj`` (a PodUnavailableBudget) when it names a workload, else None."""
    ref = _mapping(_mapping(obj.get("spec")).get("targetRef"))
    kind, name = ref.get("kind"), ref.get("name")
    if not isinstance(kind, str) or not kind or not isinstance(name, str) or not name:
        return None
    return TargetRef(group_of(str(ref.get("apiVersion") or "")), kind, name)


@dataclass(frozen=True, slots=True)
class Entry:
    """One object's selector (None when unusable) and target reference (None when absent)."""

    namespace: str
    name: str
    selector: LabelSelector | None
    target: TargetRef | None = None


def entry_of(obj: RawObject) -> Entry | None:
    meta = _mapping(obj.get("metadata"))
    name = meta.get("name")
    selector, target = object_selector(obj), object_target(obj)
    if not isinstance(name, str) or not name or (selector is None and target is None):
        return None
    return Entry(str(meta.get("namespace") or ""), name, selector, target)


class SelectorIndex:
    """type -> namespace -> name -> entry; kept from the type's primary watch and lists."""

    def __init__(self) -> None:
        self._by_type: dict[str, dict[str, dict[str, Entry]]] = {}

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
            names[name] = entry

    def replace(self, type_name: str, objects: Iterable[RawObject]) -> None:
        """A full list of the type's primary objects (the list replaces what was known)."""
        spaces: dict[str, dict[str, Entry]] = {}
        for obj in objects:
            entry = entry_of(obj)
            if entry is not None:
                spaces.setdefault(entry.namespace, {})[entry.name] = entry
        self._by_type[type_name] = spaces

    def matching(self, type_name: str, namespace: str, labels: Mapping[str, str]) -> tuple[str, ...]:
        """Names of the type's objects in ``namespace`` whose selector matches ``labels``, sorted."""
        names = self._by_type.get(type_name, {}).get(namespace, {})
        return tuple(
            sorted(
                name
                for name, entry in names.items()
                if entry.selector is not None and selector_matches(entry.selector, labels)
            )
        )

    def targeting(self, type_name: str, namespace: str, target: TargetRef) -> tuple[str, ...]:
        """Names of the type's objects in ``namespace`` whose ``spec.targetRef`` is ``target``, sorted."""
        names = self._by_type.get(type_name, {}).get(namespace, {})
        return tuple(sorted(name for name, entry in names.items() if entry.target == target))

    def count(self, type_name: str) -> int:
        return sum(len(names) for names in self._by_type.get(type_name, {}).values())
