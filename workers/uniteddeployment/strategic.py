"""A strategic merge patch of a core/v1 PodTemplateSpec (a subset's ``patch``).

kruise applies ``topology.subsets[].patch`` with apimachinery's
``strategicpatch.StrategicMergePatch(template, patch, &corev1.PodTemplateSpec{})``. No maintained
Python library implements strategic merge (the kubernetes client leaves it to the API server,
which cannot apply one to a CloneSet or Advanced StatefulSet: CRDs take only JSON / merge
patches), so this is the subset of it a pod template needs: maps merge recursively, ``null``
deletes a key, lists with a ``patchMergeKey`` in ``k8s.io/api/core/v1`` (containers by name,
env by name, ports by containerPort, volumeMounts by mountPath, volumes by name, ...) merge item
by item in the original's order, new items appended, other lists are replaced; the directives
``$patch: replace`` (a map), ``$patch: delete`` (a map or a keyed list item) are honoured and
``$retainKeys`` / ``$setElementOrder`` / ``$deleteFromPrimitiveList`` keys are dropped. Pure;
called by ``subsets``.
"""

from __future__ import annotations

from workers.podmechanics.kube_json import JsonDict, JsonObject, thaw

PATCH = "$patch"

_CONTAINER_KEYS: dict[tuple[str, ...], str] = {
    ("env",): "name",
    ("ports",): "containerPort",
    ("volumeMounts",): "mountPath",
    ("volumeDevices",): "devicePath",
}

#: patchMergeKey of each mergeable list, by its field path inside the PodTemplateSpec.
MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("spec", "volumes"): "name",
    ("spec", "imagePullSecrets"): "name",
    ("spec", "hostAliases"): "ip",
    ("spec", "topologySpreadConstraints"): "topologyKey",
    ("spec", "schedulingGates"): "name",
    ("spec", "resourceClaims"): "name",
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "ephemeralContainers"): "name",
}
for _list in ("containers", "initContainers", "ephemeralContainers"):
    for _field, _key in _CONTAINER_KEYS.items():
        MERGE_KEYS[("spec", _list, *_field)] = _key


class PatchError(ValueError):
    """The patch is not a strategic merge patch of a pod template."""


def strategic_merge(original: JsonObject, patch: JsonObject) -> JsonDict:
    """``original`` (a PodTemplateSpec) with ``patch`` applied."""
    merged = _merge_map(original, patch, ())
    if merged is None:
        return {}
    return merged


def _merge_map(original: JsonObject, patch: JsonObject, path: tuple[str, ...]) -> JsonDict | None:
    directive = patch.get(PATCH)
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: thaw(v) for k, v in patch.items() if not k.startswith("$")}
    if directive is not None:
        raise PatchError(f"unknown patch directive {directive!r} at {'.'.join(path) or '<root>'}")
    out: JsonDict = {k: thaw(v) for k, v in original.items()}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
            continue
        here = (*path, key)
        current = out.get(key)
        if isinstance(value, dict):
            merged = _merge_map(current if isinstance(current, dict) else {}, value, here)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list) and here in MERGE_KEYS:
            out[key] = _merge_list(current if isinstance(current, list) else [], value, here)
        else:
            out[key] = thaw(value)
    return out


def _merge_list(original: list[object], patch: list[object], path: tuple[str, ...]) -> list[object]:
    key = MERGE_KEYS[path]
    out: list[object] = [thaw(item) for item in original]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"{'.'.join(path)}: expected objects with {key!r}, got {item!r}")
        if item.get(PATCH) == "replace":
            raise PatchError(f"{'.'.join(path)}: $patch: replace is not supported on a list item")
        ident = item.get(key)
        if ident is None:
            raise PatchError(f"{'.'.join(path)}: an item has no merge key {key!r}")
        index = next(
            (
                i
                for i, existing in enumerate(out)
                if isinstance(existing, dict) and existing.get(key) == ident
            ),
            None,
        )
        if item.get(PATCH) == "delete":
            if index is not None:
                del out[index]
            continue
        if index is None:
            merged = _merge_map({}, item, path)
            if merged is not None:
                out.append(merged)
        else:
            existing = out[index]
            assert isinstance(existing, dict)
            merged = _merge_map(existing, item, path)
            if merged is None:
                del out[index]
            else:
                out[index] = merged
    return out
