"""The one normalisation of pod templates before they are compared or recorded (STYLE point 13).

kruise compares templates through its Go encoding: a template read into ``PodTemplateSpec`` and
written back has no ``$patch`` keys (no such field), and an empty value encodes like an absent
one (``resources: {}`` is what every container encodes to without resources; empty lists and
``omitempty`` fields vanish). So ``resources: {}`` sent by ``kubectl-kruise set image`` and the
``"$patch": "replace"`` that ``kubectl-kruise rollout undo`` leaves in ``spec.template`` change
nothing in kruise. ``canonical_template`` gives that meaning as plain JSON: ``$patch`` keys,
nulls, empty objects and empty lists dropped, at every depth. Revisions (data, hash, equality)
and the in-place decision (``inplace``, ``validation``) all compare canonical templates.
Pure; used by ``revisions`` and ``inplace``.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.cloneset.kube_json import JsonDict, JsonObject

PATCH_DIRECTIVE = "$patch"


def _canonical(value: object) -> object:
    if isinstance(value, Mapping):
        kept = {str(k): _canonical(v) for k, v in value.items() if k != PATCH_DIRECTIVE}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != []}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def canonical_template(template: JsonObject) -> JsonDict:
    """``template`` as kruise's encoding sees it (a new dict; the argument is not changed)."""
    result = _canonical(template)
    return result if isinstance(result, dict) else {}
