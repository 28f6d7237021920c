"""The volumeClaimTemplates hash kruise writes on every CloneSet revision, and what it decides.

kruise (``pkg/util/volumeclaimtemplate``) annotates each ControllerRevision with
``kruise.io/cloneset-volumeclaimtemplate-hash``: ``""`` without claim templates, otherwise the
decimal FNV-32a of ``hashutil.DeepHashObject`` over ``json.Marshal`` of the templates reduced to
``{metadata: {name}, spec}`` and sorted by name. ``DeepHashObject`` prints its argument (a Go
``[]byte``) with spew's ``%#v``: ``([]uint8)[123 34 ...]``, the decimal bytes separated by spaces.
:func:`claim_templates_hash` reproduces those bytes: Go's struct field order for the
``PersistentVolumeClaim`` types, ``omitempty`` rules (a struct is never omitted, so ``resources``
and ``status`` always appear), sorted map keys and Go's HTML escapes.

Known limit: Go re-prints a ``resource.Quantity`` in canonical form; the quantity text is used as
stored here, so a non-canonical spelling (``1024Mi`` for ``1Gi``) hashes differently from kruise's.
The hash only feeds an equality test between revisions Flotilla wrote itself or adopted, so such a
spelling changes nothing unless a revision written by kruise is compared with one written by
Flotilla for the very same templates.

With the ``RecreatePodWhenChangeVCTInCloneSetGate`` gate a pod may be updated in place only when
its revision's hash equals the update revision's (:func:`claims_allow_in_place`); a revision
without the annotation (written before the gate, or by an older Flotilla) never forbids it.
Pure; used by ``revisions`` and ``update``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from workers.podmechanics import gohash
from workers.podmechanics.gohash import fnv32a
from workers.podmechanics.kube_json import JsonObject, annotations_of

VCT_HASH_ANNOTATION = "kruise.io/cloneset-volumeclaimtemplate-hash"

_Go = dict[str, object]


def _get(obj: object, key: str) -> object:
    return obj.get(key) if isinstance(obj, Mapping) else None


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _string(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _sorted_map(value: object) -> _Go | None:
    """A Go map (``ResourceList``, ``matchLabels``): sorted keys, omitted when empty."""
    if not isinstance(value, Mapping) or not value:
        return None
    return {str(k): _string(value[k]) for k in sorted(value, key=str)}


def _put(out: _Go, key: str, value: object) -> None:
    """Set ``key`` unless ``value`` is what ``omitempty`` drops (nil, "", empty list or map)."""
    if value is None or value == "" or value == [] or value == {}:
        return
    out[key] = value


def _selector(value: object) -> _Go | None:
    if not isinstance(value, Mapping):
        return None
    out: _Go = {}
    _put(out, "matchLabels", _sorted_map(value.get("matchLabels")))
    expressions = []
    for expr in _list(value.get("matchExpressions")):
        item: _Go = {"key": _string(_get(expr, "key")), "operator": _string(_get(expr, "operator"))}
        _put(item, "values", [_string(v) for v in _list(_get(expr, "values"))])
        expressions.append(item)
    _put(out, "matchExpressions", expressions)
    return out


def _object_ref(value: object, *, namespaced: bool) -> _Go | None:
    """``TypedLocalObjectReference`` / ``TypedObjectReference`` (``apiGroup`` has no omitempty)."""
    if not isinstance(value, Mapping):
        return None
    group = value.get("apiGroup")
    out: _Go = {
        "apiGroup": None if group is None else _string(group),
        "kind": _string(value.get("kind")),
        "name": _string(value.get("name")),
    }
    if namespaced and value.get("namespace") is not None:
        out["namespace"] = _string(value.get("namespace"))
    return out


def _optional_string(value: object) -> str | None:
    """A Go ``*string``: absent is nil (omitted), present is printed even when ``""``."""
    return None if value is None else _string(value)


def _spec(spec: object) -> _Go:
    """``PersistentVolumeClaimSpec`` in Go's field order."""
    out: _Go = {}
    _put(out, "accessModes", [_string(m) for m in _list(_get(spec, "accessModes"))])
    _put(out, "selector", _selector(_get(spec, "selector")))
    resources: _Go = {}
    _put(resources, "limits", _sorted_map(_get(_get(spec, "resources"), "limits")))
    _put(resources, "requests", _sorted_map(_get(_get(spec, "resources"), "requests")))
    out["resources"] = resources
    _put(out, "volumeName", _string(_get(spec, "volumeName")))
    for key in ("storageClassName", "volumeMode"):
        value = _optional_string(_get(spec, key))
        if value is not None:
            out[key] = value
    data_source = _object_ref(_get(spec, "dataSource"), namespaced=False)
    if data_source is not None:
        out["dataSource"] = data_source
    data_source_ref = _object_ref(_get(spec, "dataSourceRef"), namespaced=True)
    if data_source_ref is not None:
        out["dataSourceRef"] = data_source_ref
    attributes_class = _optional_string(_get(spec, "volumeAttributesClassName"))
    if attributes_class is not None:
        out["volumeAttributesClassName"] = attributes_class
    return out


def _claim(template: JsonObject) -> _Go:
    """``PersistentVolumeClaim{ObjectMeta: {Name}, Spec}`` as Go marshals it."""
    metadata: _Go = {}
    _put(metadata, "name", _string(_get(template.get("metadata"), "name")))
    metadata["creationTimestamp"] = None
    return {"metadata": metadata, "spec": _spec(template.get("spec")), "status": {}}


def go_json(templates: Sequence[JsonObject]) -> bytes:
    """``json.Marshal`` of kruise's reduced, name-sorted claim templates."""
    claims = sorted((_claim(t) for t in templates), key=lambda c: _string(_get(c["metadata"], "name")))
    return gohash.go_json(claims)


def spew_bytes(data: bytes) -> bytes:
    """spew ``%#v`` of a Go ``[]byte`` (``DeepHashObject``'s printer)."""
    return b"([]uint8)[" + b" ".join(str(b).encode() for b in data) + b"]"


def claim_templates_hash(templates: Iterable[JsonObject] | None) -> str:
    """The annotation value kruise writes for these templates (``PatchVCTemplateHash``)."""
    listed = list(templates or ())
    if not listed:
        return ""
    return str(fnv32a(spew_bytes(go_json(listed))))


def revision_claims_hash(revision: JsonObject) -> str | None:
    """The revision's annotation, or None when the revision has none (``GetVCTemplatesHash``)."""
    value = annotations_of(revision).get(VCT_HASH_ANNOTATION)
    return None if value is None else str(value)


def claims_allow_in_place(old_hash: str | None, new_hash: str | None) -> bool:
    """``CanVCTemplateInplaceUpdate``: a missing hash on either side never forces a recreate."""
    if old_hash is None or new_hash is None:
        return True
    return old_hash == new_hash
