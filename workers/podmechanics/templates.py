"""The one normalisation of pod templates before they are compared or recorded (STYLE point 13).

kruise compares templates through its Go encoding: a template read into ``PodTemplateSpec`` and
written back has no ``$patch`` keys (no such field), and an empty value encodes like an absent
one (``resources: {}`` is what every container encodes to without resources; empty lists and
``omitempty`` fields vanish). So ``resources: {}`` sent by ``kubectl-kruise set image`` and the
``"$patch": "replace"`` that ``kubectl-kruise rollout undo`` leaves in ``spec.template`` change
nothing in kruise. ``canonical_template`` gives that meaning as plain JSON: ``$patch`` keys,
nulls, empty objects and empty lists dropped, at every depth. Revisions (data, hash, equality)
and the in-place decision (``inplace``, and the workloads' validation) all compare canonical
templates.

What a revision *records* is another matter: kruise's revision data is Go's ``json.Marshal`` of the
``PodTemplateSpec`` it read, byte for byte (its hash names the revision). ``go_encoded_template``
gives those bytes' content: the template as stored, without ``$patch`` keys, plus the zero values Go
always writes (``metadata.creationTimestamp: null``, each container's ``resources: {}``), so a
revision of a template kruise stored has kruise's name, and ``resources: {}`` present or absent
encodes the same. Pure; used by ``revisions`` and ``inplace``.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.podmechanics.kube_json import JsonDict, JsonObject

PATCH_DIRECTIVE = "$patch"


def _canonical(value: object) -> object:
    if isinstance(value, Mapping):
        kept = {str(k): _canonical(v) for k, v in value.items() if k != PATCH_DIRECTIVE}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != []}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def _without_patch_directives(value: object) -> object:
    if isinstance(value, Mapping):
        return {str(k): _without_patch_directives(v) for k, v in value.items() if k != PATCH_DIRECTIVE}
    if isinstance(value, list | tuple):
        return [_without_patch_directives(item) for item in value]
    return value


#: PodSpec's container lists: every container is a struct whose ``resources`` Go always writes.
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def go_encoded_template(template: JsonObject) -> JsonDict:
    """``template`` as Go's ``json.Marshal`` of a ``PodTemplateSpec`` holds it (a new dict)."""
    result = _without_patch_directives(template)
    encoded: JsonDict = result if isinstance(result, dict) else {}
    metadata = encoded.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata.setdefault("creationTimestamp", None)  # a struct: never omitted, null when unset
    spec = encoded.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("containers", None)  # no omitempty: null when absent
        for field in _CONTAINER_LISTS:
            for container in spec.get(field) or ():
                if isinstance(container, dict):
                    container.setdefault("resources", {})  # a struct: never omitted
    return encoded


def canonical_template(template: JsonObject) -> JsonDict:
    """``template`` as kruise's encoding sees it (a new dict; the argument is not changed)."""
    result = _canonical(template)
    return result if isinstance(result, dict) else {}
