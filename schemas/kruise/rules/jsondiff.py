"""The JSON-patch operations between two JSON documents, as ``appscode/jsonpatch.CreatePatch`` finds them.

kruise refuses an ``InPlaceOnly`` template change by naming the first patch operation that is not
``replace /containers/N/image`` (``clonesetcore.ValidateCloneSetUpdate``). Keys are visited in sorted
order (Go visits maps in random order, so kruise's choice among several changes is arbitrary too);
lists of objects are compared index by index, as the library does. Pure; used by ``cloneset``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PatchOp:
    op: str
    """``add``, ``remove`` or ``replace``."""
    path: str
    """RFC 6901 pointer (``/containers/0/image``)."""


def _pointer(path: str, part: object) -> str:
    return f"{path}/{str(part).replace('~', '~0').replace('/', '~1')}"


def _json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _values(a: object, b: object, path: str, out: list[PatchOp]) -> None:
    if a is None and b is None:
        return
    if a is None:
        out.append(PatchOp("add", path))
        return
    if _json_type(a) != _json_type(b):
        out.append(PatchOp("replace", path))
        return
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        _objects(a, b, path, out)
    elif isinstance(a, Sequence) and not isinstance(a, str) and isinstance(b, Sequence):
        shared = min(len(a), len(b))
        out.extend(PatchOp("remove", _pointer(path, i)) for i in range(len(a) - 1, shared - 1, -1))
        out.extend(PatchOp("add", _pointer(path, i)) for i in range(shared, len(b)))
        for i in range(shared):
            _values(a[i], b[i], _pointer(path, i), out)
    elif a != b:
        out.append(PatchOp("replace", path))


def _objects(a: Mapping[str, object], b: Mapping[str, object], path: str, out: list[PatchOp]) -> None:
    for key in sorted(b):
        if key not in a:
            out.append(PatchOp("add", _pointer(path, key)))
        else:
            _values(a[key], b[key], _pointer(path, key), out)
    out.extend(PatchOp("remove", _pointer(path, key)) for key in sorted(a) if key not in b)


def create_patch(old: Mapping[str, object], new: Mapping[str, object]) -> list[PatchOp]:
    """The operations turning ``old`` into ``new``."""
    out: list[PatchOp] = []
    _objects(old, new, "", out)
    return out
