"""Pure mapping from one watched object to the reconcile keys it concerns.

No I/O, no clock, no logging. :class:`Router` is built once from the :class:`WatcherConfig`;
:mod:`watcher.informer` calls :meth:`Router.keys` for every watch event and every listed object.
Rules, per worker type:

- an object of the type's primary resource is its own key;
- an owned object (pod, PVC, ControllerRevision, ...) maps to its controller owner when that
  owner is of the type's primary kind and API group (any version);
- with ``controller-owner-or-selector`` (CloneSet pods), an object with no controller at all and
  not being deleted also maps to every object of the type in its namespace whose selector matches
  its labels (kruise's pod event handler for orphans; a :class:`~watcher.selectors.SelectorIndex`
  fed by the primary watch);
- a pod injected by SidecarSets maps to every SidecarSet named in ``kruise.io/sidecarset-hash``;
- a node maps to every key of a type that places pods per node (DaemonSet, BroadcastJob): the
  caller passes the keys it knows (a :class:`KeyIndex` fed by the primary watch); a NodeImage
  likewise to every ImagePullJob;
- a node maps to the NodeImage of the same name (``same-name``); a finished or deleted
  ImagePullJob to the NodeImages it names, or every NodeImage (``finished-job-nodes``);
- a Secret maps to every ImagePullJob of its namespace (``same-namespace``: a job naming it as a
  pull secret copies it again);
- a pod whose containers wait on their launch-priority barrier is a key of the
  ``containerlaunchpriority`` type (``primary_when``), other pods are not;
- a pod maps to the PodUnavailableBudget of its ``kruise.io/related-pub`` annotation, or (not yet
  annotated) to the PUBs selecting it or targeting its controller (``related-pub``); a workload to
  the PUBs targeting it or selecting its template (``pub-target``), from the selector index.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import orjson

from flotilla.runtime.kube import Resource
from schemas.bus.envelope import ReconcileKey, make_key, split_key
from watcher.config import MapVia, PrimaryWhen, TypeSpec, UpdateFilter, WatcherConfig, WatchTarget
from watcher.selectors import SelectorIndex, TargetRef, group_of, object_labels
from workers.podmechanics import launchpriority

SIDECARSET_HASH_ANNOTATION = "kruise.io/sidecarset-hash"
RELATED_PUB_ANNOTATION = "kruise.io/related-pub"

#: A decoded Kubernetes object (``orjson.loads`` output): plain dicts, lists and scalars.
RawObject = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Identity of a watched object, as carried in the trigger envelope."""

    kind: str
    namespace: str
    name: str
    uid: str
    resource_version: str


def _meta(obj: RawObject) -> Mapping[str, object]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def object_ref(resource: Resource, obj: RawObject) -> ObjectRef:
    """The identity of ``obj`` (list items carry no ``kind``, so it comes from the resource)."""
    meta = _meta(obj)
    return ObjectRef(
        kind=resource.kind,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def controller_owner(obj: RawObject, owner: Resource) -> str | None:
    """Name of ``obj``'s controller owner when it is of ``owner``'s kind and group, else None."""
    refs = _meta(obj).get("ownerReferences")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if not isinstance(ref, dict) or ref.get("controller") is not True:
            continue
        if ref.get("kind") == owner.kind and _group_of(str(ref.get("apiVersion", ""))) == owner.group:
            name = ref.get("name")
            return name if isinstance(name, str) and name else None
        return None  # one controller at most, and it is of another kind
    return None


def has_controller(obj: RawObject) -> bool:
    """Whether any ownerReference of ``obj`` is its controller (of whatever kind)."""
    refs = _meta(obj).get("ownerReferences")
    return isinstance(refs, list) and any(isinstance(r, dict) and r.get("controller") is True for r in refs)


def being_deleted(obj: RawObject) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def injecting_sidecarsets(obj: RawObject) -> tuple[str, ...]:
    """SidecarSets named in the pod's ``kruise.io/sidecarset-hash`` annotation (malformed: none)."""
    annotations = _meta(obj).get("annotations")
    if not isinstance(annotations, dict):
        return ()
    raw = annotations.get(SIDECARSET_HASH_ANNOTATION)
    if not isinstance(raw, str):
        return ()
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ()
    if not isinstance(decoded, dict):
        return ()
    return tuple(sorted(name for name in decoded if isinstance(name, str) and name))


def _pubs_of_pod(
    spec: TypeSpec, obj: RawObject, namespace: str, selectors: SelectorIndex | None
) -> tuple[str, ...]:
    annotations = _meta(obj).get("annotations")
    named = annotations.get(RELATED_PUB_ANNOTATION) if isinstance(annotations, dict) else None
    if isinstance(named, str) and named:
        return (named,)
    if selectors is None:
        return ()
    found = dict.fromkeys(selectors.matching(spec.name, namespace, object_labels(obj)))
    refs = _meta(obj).get("ownerReferences")
    for ref in refs if isinstance(refs, list) else ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            target = TargetRef(
                group_of(str(ref.get("apiVersion", ""))), str(ref.get("kind", "")), str(ref.get("name", ""))
            )
            found.update(dict.fromkeys(selectors.targeting(spec.name, namespace, target)))
    return tuple(found)


def _pubs_of_workload(
    spec: TypeSpec, obj: RawObject, namespace: str, selectors: SelectorIndex | None, resource: Resource | None
) -> tuple[str, ...]:
    if selectors is None:
        return ()
    if resource is not None:
        group, kind = resource.group, resource.kind
    else:
        group, kind = group_of(str(obj.get("apiVersion") or "")), str(obj.get("kind") or "")
    name = _meta(obj).get("name")
    found: dict[str, None] = {}
    if isinstance(name, str) and name:
        found.update(dict.fromkeys(selectors.targeting(spec.name, namespace, TargetRef(group, kind, name))))
    template = obj.get("spec")
    template = template.get("template") if isinstance(template, dict) else None
    if isinstance(template, dict):
        found.update(dict.fromkeys(selectors.matching(spec.name, namespace, object_labels(template))))
    return tuple(found)


def _nodes_of_finished_job(
    spec: TypeSpec, obj: RawObject, known: Collection[ReconcileKey]
) -> tuple[ReconcileKey, ...]:
    status = obj.get("status")
    finished = isinstance(status, dict) and bool(status.get("completionTime"))
    if not (finished or being_deleted(obj)):
        return ()
    job_spec = obj.get("spec")
    selector = job_spec.get("selector") if isinstance(job_spec, dict) else None
    names = selector.get("names") if isinstance(selector, dict) else None
    if isinstance(names, list):
        return tuple(make_key(spec.name, "", n) for n in names if isinstance(n, str) and n)
    return tuple(sorted(known))


def primary_keys(spec: TypeSpec, obj: RawObject) -> tuple[ReconcileKey, ...]:
    """The key of an object of ``spec``'s primary resource: the object itself (when the type's
    ``primary_when`` admits it)."""
    if spec.primary_when is PrimaryWhen.LAUNCH_PRIORITY_PENDING and not launchpriority.worth_a_look(obj):
        return ()
    meta = _meta(obj)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return ()
    namespace = str(meta.get("namespace") or "") if spec.resource.namespaced else ""
    return (make_key(spec.name, namespace, name),)


def owned_keys(
    spec: TypeSpec,
    via: MapVia,
    obj: RawObject,
    known: Collection[ReconcileKey] = (),
    selectors: SelectorIndex | None = None,
    resource: Resource | None = None,
) -> tuple[ReconcileKey, ...]:
    """The keys of ``spec`` an owned object concerns, by the ``via`` rule (``known``: every key;
    ``selectors``: the selectors of the type's objects, for orphans; ``resource``: what ``obj`` is,
    as list items carry no ``kind``)."""
    namespace = str(_meta(obj).get("namespace") or "") if spec.resource.namespaced else ""
    if via in (MapVia.CONTROLLER_OWNER, MapVia.CONTROLLER_OWNER_OR_SELECTOR):
        owner = controller_owner(obj, spec.resource)
        if owner:
            return (make_key(spec.name, namespace, owner),)
        if via is MapVia.CONTROLLER_OWNER or selectors is None or has_controller(obj) or being_deleted(obj):
            return ()
        names = selectors.matching(spec.name, namespace, object_labels(obj))
        return tuple(make_key(spec.name, namespace, name) for name in names)
    if via is MapVia.SIDECARSET_ANNOTATION:
        return tuple(make_key(spec.name, namespace, name) for name in injecting_sidecarsets(obj))
    if via is MapVia.EVERY_KEY:
        return tuple(sorted(known))
    if via is MapVia.SAME_NAME:
        name = _meta(obj).get("name")
        return (make_key(spec.name, namespace, name),) if isinstance(name, str) and name else ()
    if via is MapVia.FINISHED_JOB_NODES:
        return _nodes_of_finished_job(spec, obj, known)
    if via is MapVia.SAME_NAMESPACE:
        where = str(_meta(obj).get("namespace") or "")
        return tuple(sorted(key for key in known if split_key(key).namespace == where))
    if via is MapVia.RELATED_PUB:
        return tuple(
            make_key(spec.name, namespace, name) for name in _pubs_of_pod(spec, obj, namespace, selectors)
        )
    if via is MapVia.PUB_TARGET:
        return tuple(
            make_key(spec.name, namespace, name)
            for name in _pubs_of_workload(spec, obj, namespace, selectors, resource)
        )
    raise AssertionError(f"unhandled mapping rule {via}")


@dataclass(frozen=True, slots=True)
class _Route:
    spec: TypeSpec
    via: MapVia | None  # None: the target is the type's primary resource
    #: Its updates that cannot change the type's plan trigger nothing (``watcher.podupdates``).
    quiet_updates: bool = False


class Router:
    """For each watch target, the types it feeds; maps an object to its keys (pure)."""

    def __init__(self, config: WatcherConfig) -> None:
        routes: dict[WatchTarget, list[_Route]] = {}
        for spec in config.types:
            routes.setdefault(WatchTarget(spec.resource, spec.label_selector), []).append(_Route(spec, None))
            for owned in spec.owned:
                quiet = config.cloneset_event_filter and owned.update_filter is UpdateFilter.CLONESET_POD
                routes.setdefault(WatchTarget(owned.resource), []).append(_Route(spec, owned.via, quiet))
        self._routes = {target: tuple(found) for target, found in routes.items()}

    def filters_updates(self, target: WatchTarget) -> bool:
        """Whether some type fed by ``target`` skips the updates that cannot change its plan."""
        return any(route.quiet_updates for route in self._routes.get(target.unbound(), ()))

    def types_fed_by(self, target: WatchTarget) -> tuple[TypeSpec, ...]:
        return tuple(route.spec for route in self._routes.get(target.unbound(), ()))

    def primary_of(self, target: WatchTarget) -> tuple[TypeSpec, ...]:
        """The types whose primary resource ``target`` is."""
        return tuple(route.spec for route in self._routes.get(target.unbound(), ()) if route.via is None)

    def needs_selectors(self) -> tuple[TypeSpec, ...]:
        """Types with a selector rule: the selectors of their objects must be indexed."""
        specs = {
            r.spec
            for routes in self._routes.values()
            for r in routes
            if r.via in (MapVia.CONTROLLER_OWNER_OR_SELECTOR, MapVia.RELATED_PUB, MapVia.PUB_TARGET)
        }
        return tuple(sorted(specs, key=lambda spec: spec.name))

    def needs_index(self) -> tuple[TypeSpec, ...]:
        """Types with an every-key rule: their keys must be indexed."""
        indexed = (MapVia.EVERY_KEY, MapVia.FINISHED_JOB_NODES, MapVia.SAME_NAMESPACE)
        specs = {r.spec for routes in self._routes.values() for r in routes if r.via in indexed}
        return tuple(sorted(specs, key=lambda spec: spec.name))

    def keys(
        self,
        target: WatchTarget,
        obj: RawObject,
        index: KeyIndex | None = None,
        selectors: SelectorIndex | None = None,
        quiet: bool = False,
    ) -> tuple[ReconcileKey, ...]:
        """Every reconcile key ``obj`` (seen on ``target``) concerns, without duplicates, in order.

        ``quiet``: the event is an update that cannot change a CloneSet's plan
        (``watcher.podupdates``); the types that skip such updates get no key from it."""
        found: dict[ReconcileKey, None] = {}
        for route in self._routes.get(target.unbound(), ()):
            if quiet and route.quiet_updates:
                continue
            if route.via is None:
                keys = primary_keys(route.spec, obj)
            else:
                known = index.keys(route.spec.name) if index is not None else frozenset()
                keys = owned_keys(route.spec, route.via, obj, known, selectors, target.resource)
            for key in keys:
                found.setdefault(key, None)
        return tuple(found)


class KeyIndex:
    """The keys of each type that exist, kept from its primary watch (for every-key rules)."""

    def __init__(self) -> None:
        self._keys: dict[str, set[ReconcileKey]] = {}

    def keys(self, type_name: str) -> frozenset[ReconcileKey]:
        return frozenset(self._keys.get(type_name, ()))

    def observe(self, type_name: str, keys: Iterable[ReconcileKey], deleted: bool) -> None:
        known = self._keys.setdefault(type_name, set())
        if deleted:
            known.difference_update(keys)
        else:
            known.update(keys)

    def replace(self, type_name: str, keys: Iterable[ReconcileKey], namespace: str | None = None) -> None:
        """The keys of ``type_name`` are now ``keys`` (in ``namespace`` only, when given)."""
        if namespace is None:
            self._keys[type_name] = set(keys)
            return
        kept = {key for key in self._keys.get(type_name, ()) if split_key(key).namespace != namespace}
        self._keys[type_name] = kept | set(keys)
