"""SidecarSet rules: kruise's defaults, its two hashes, and its validation (v1beta1, v1.9.1).

Defaulting is ``SetDefaultsSidecarSetV1beta1`` then ``SetHashSidecarSetV1beta1``: the
``kruise.io/sidecarset-hash`` and ``kruise.io/sidecarset-hash-without-image`` annotations the pod
injection copies onto every pod and the SidecarSet worker compares. The hash is sha256 over Go's
``json.Marshal`` of ``{"containers": [...]}`` (plus ``initContainers`` when one of them is a native
sidecar), so the containers are written in Go's struct field order (:data:`_CONTAINER_ORDER`), then
``rand.SafeEncodeString``. Validation is ``pkg/webhook/sidecarset/validating`` with kruise's
messages; :func:`validate_conflicts` is its check against the other SidecarSets of the cluster
(same container, init container or volume on overlapping selectors), which needs a list the
webhook's gather reads. Pure.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.kruise.conversion import NAMESPACE_NAME_LABEL
from schemas.kruise.rules import meta
from schemas.kruise.rules.calculator import expression_error
from schemas.kruise.rules.cloneset import priority_strategy_error, scatter_strategy_error
from schemas.kruise.rules.errors import FieldError, GoValue, duplicate, int_or_string, invalid, required
from schemas.kruise.rules.meta import go_selector
from schemas.kruise.rules.podspec import default_container, default_volumes
from workers.podmechanics.gohash import go_json, safe_encode

JsonDict = dict[str, Any]

NAME_MAX_LEN = 63
_NAME_FMT = r"^[a-zA-Z0-9\-]+$"
_NAME_MSG = "sidecarset name must consist of alphanumeric characters or '-'"
_PERCENT_MSG = meta.regex_error(
    "a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", "1%", "93%"
)

#: Go's field order of core/v1 Container (k8s.io/api v0.32, kruise v1.9.1's) then SidecarContainer's.
_CONTAINER_ORDER = [
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "ports",
    "envFrom",
    "env",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "volumeMounts",
    "volumeDevices",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
    "podInjectPolicy",
    "upgradeStrategy",
    "shareVolumePolicy",
    "shareVolumeDevicePolicy",
    "transferEnv",
    "resourcesPolicy",
]
#: Struct members Go writes even when empty (a value struct, not a pointer).
_ALWAYS: Mapping[str, JsonDict] = {"resources": {}, "upgradeStrategy": {}, "shareVolumePolicy": {}}
#: Go's field order of the nested structs a sidecar commonly carries; other objects keep sorted keys
#: (exact for maps; structs not listed here are a documented approximation, docs/sidecarset.md).
_NESTED_ORDER: Mapping[str, tuple[str, ...]] = {
    "ports": ("name", "hostPort", "containerPort", "protocol", "hostIP"),
    "env": ("name", "value", "valueFrom"),
    "envFrom": ("prefix", "configMapRef", "secretRef"),
    "volumeMounts": (
        "name",
        "readOnly",
        "recursiveReadOnly",
        "mountPath",
        "subPath",
        "mountPropagation",
        "subPathExpr",
    ),
    "volumeDevices": ("name", "devicePath"),
    "resources": ("limits", "requests", "claims"),
    "upgradeStrategy": ("upgradeType", "hotUpgradeEmptyImage"),
    "transferEnv": ("sourceContainerName", "sourceContainerNameFrom", "envName", "envNames"),
}


def _sorted(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _ordered(obj: Mapping[str, Any], order: Sequence[str]) -> JsonDict:
    known = {k: obj[k] for k in order if k in obj}
    return known | {k: obj[k] for k in sorted(obj) if k not in known}


def _go_container(container: Mapping[str, Any]) -> JsonDict:
    full = {**_ALWAYS, **container}
    out: JsonDict = {}
    for key, value in _ordered(full, _CONTAINER_ORDER).items():
        if value in (None, "", [], False) and key not in _ALWAYS:
            continue  # omitempty
        order = _NESTED_ORDER.get(key)
        if order is not None and isinstance(value, list):
            value = [_ordered({k: _sorted(v) for k, v in item.items()}, order) for item in value]
        elif order is not None and isinstance(value, Mapping):
            value = _ordered({k: _sorted(v) for k, v in value.items()}, order)
        else:
            value = _sorted(value)
        out[key] = value
    return out


def is_native_sidecar(container: Mapping[str, Any]) -> bool:
    """kruise ``IsSidecarContainer``: an init container with ``restartPolicy: Always``."""
    return container.get("restartPolicy") == "Always"


def sidecarset_hash(spec: Mapping[str, Any], *, without_image: bool = False) -> str:
    """kruise ``SidecarSetHashV1beta1`` (``without_image``: ``SidecarSetHashWithoutImageV1beta1``)
    of a defaulted spec."""

    def strip(containers: object) -> list[JsonDict]:
        items = (
            [dict(c) for c in containers or () if isinstance(c, Mapping)]
            if isinstance(containers, list)
            else []
        )
        if without_image:
            for item in items:
                item.pop("image", None)
        return [_go_container(item) for item in items]

    encoded: JsonDict = {"containers": strip(spec.get("containers")) or None}
    init = spec.get("initContainers")
    if isinstance(init, list) and any(isinstance(c, Mapping) and is_native_sidecar(c) for c in init):
        encoded["initContainers"] = strip(init)
    data = go_json(encoded)
    return safe_encode(hashlib.sha256(data).hexdigest())


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _default_sidecar(container: JsonDict, policy: str) -> None:
    strategy = container.get("upgradeStrategy")
    strategy = strategy if isinstance(strategy, dict) else {}
    if not strategy.get("upgradeType"):
        strategy["upgradeType"] = "ColdUpgrade"
    container["upgradeStrategy"] = strategy
    share = container.get("shareVolumePolicy")
    share = share if isinstance(share, dict) else {}
    if not share.get("type"):
        share["type"] = "disabled"
    container["shareVolumePolicy"] = share
    if not container.get("podInjectPolicy"):
        container["podInjectPolicy"] = policy
    default_container(container, pull_always=False)
    for transfer in container.get("transferEnv") or ():
        source = transfer.get("sourceContainerNameFrom") if isinstance(transfer, dict) else None
        ref = source.get("fieldRef") if isinstance(source, dict) else None
        if isinstance(ref, dict) and not ref.get("apiVersion"):
            ref["apiVersion"] = "v1"


def default_sidecarset(obj: Mapping[str, Any], _old: Mapping[str, Any] | None) -> JsonDict:
    """``SetDefaultsSidecarSetV1beta1`` + ``SetHashSidecarSetV1beta1`` on a copy of ``obj``."""
    # schemas.kruise imports the rules (CEL rules): the model module is read when called
    from schemas.kruise.sidecarset import SIDECARSET_HASH_ANNOTATION, SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION

    out: JsonDict = copy.deepcopy(dict(obj))
    spec = out.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    strategy.setdefault("maxUnavailable", 1)
    strategy.setdefault("partition", 0)
    for key, policy in (("initContainers", "AfterAppContainer"), ("containers", "BeforeAppContainer")):
        for container in spec.get(key) or ():
            if isinstance(container, dict):
                _default_sidecar(container, policy)
    default_volumes(spec.get("volumes"))
    spec.setdefault("revisionHistoryLimit", 10)
    for patch in spec.get("patchPodMetadata") or ():
        if isinstance(patch, dict) and not patch.get("patchPolicy"):
            patch["patchPolicy"] = "Retain"
    revision = _dict(spec.get("injectionStrategy")).get("revision")
    if isinstance(revision, dict) and not revision.get("policy"):
        revision["policy"] = "Always"
    metadata = out.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, Mapping) else {}
    annotations[SIDECARSET_HASH_ANNOTATION] = sidecarset_hash(spec)
    annotations[SIDECARSET_HASH_WITHOUT_IMAGE_ANNOTATION] = sidecarset_hash(spec, without_image=True)
    metadata["annotations"] = annotations
    return out


def _selector_errors(selector: Mapping[str, Any], path: str) -> list[FieldError]:
    """kruise ``validateSelector``."""
    errors = meta.validate_label_selector(selector, path)
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errors.append(invalid(path, go_selector(selector), "empty selector is not valid for sidecarset."))
    if meta.selector_as_selector_error(selector) is not None:
        errors.append(invalid(f"{path}.selector", go_selector(selector), ""))
    return errors


def _positive_int_or_percent(value: object, path: str) -> list[FieldError]:
    if isinstance(value, str):
        return [] if re.fullmatch(r"[0-9]+%", value) else [invalid(path, int_or_string(value), _PERCENT_MSG)]
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, meta.NEGATIVE_MSG)]
    return []


def _strategy_errors(strategy: Mapping[str, Any], path: str) -> list[FieldError]:
    if strategy.get("type") != "RollingUpdate":
        return []
    errors: list[FieldError] = []
    partition, selector = strategy.get("partition"), strategy.get("selector")
    partition_set = isinstance(partition, str) or (isinstance(partition, int) and partition != 0)
    if partition_set and selector is not None:
        errors.append(
            invalid(
                "updateStrategy", _strategy_text(strategy), "Partition and Selector cannot be used together"
            )
        )
    if isinstance(selector, Mapping):
        errors.extend(_selector_errors(selector, f"{path}.selector"))
    for key in ("partition", "maxUnavailable"):
        if strategy.get(key) is not None:
            errors.extend(_positive_int_or_percent(strategy[key], f"{path}.{key}"))
    message = priority_strategy_error(strategy.get("priorityStrategy"))
    if message:
        errors.append(required(f"{path}.priorityStrategy", message))
    if strategy.get("scatterStrategy") is not None:
        message = scatter_strategy_error(strategy.get("scatterStrategy"))
        if message:
            errors.append(required(f"{path}.scatterStrategy", message))
    return errors


def _strategy_text(strategy: Mapping[str, Any]) -> str:
    """The ``%++v`` kruise prints of the strategy (approximated: its fields as JSON)."""
    return str(go_json(_sorted(dict(strategy))), "utf-8")


def _go_pointer(type_name: str, value: object) -> str:
    """How ``%#v`` prints a pointer member (Go shows the address; Flotilla has none to show)."""
    return f"(*v1beta1.{type_name})(nil)" if value is None else f"(*v1beta1.{type_name})(0xc000000000)"


def _expr_text(expr: Mapping[str, Any]) -> str:
    limits = _go_pointer("ResourceExprLimits", expr.get("limits"))
    requests = _go_pointer("ResourceExprRequests", expr.get("requests"))
    return f"v1beta1.ResourcesExpr{{Limits:{limits}, Requests:{requests}}}"


def _policy_text(policy: Mapping[str, Any]) -> GoValue:
    """``%#v`` of the ResourcesPolicy kruise reports (pointer members as addresses)."""
    mode = str(policy.get("targetContainersMode") or "")
    regex = str(policy.get("targetContainersNameRegex") or "")
    return GoValue(
        f'v1beta1.ResourcesPolicy{{TargetContainersMode:"{mode}", TargetContainersNameRegex:"{regex}", '
        f"ResourcesExpr:{_expr_text(_dict(policy.get('resourcesExpr')))}}}"
    )


def _resources_policy_errors(container: Mapping[str, Any], path: str) -> list[FieldError]:
    """kruise ``validateResourcesPolicy`` (sidecarset_create_update_handler.go:511-630)."""
    policy = _dict(container.get("resourcesPolicy"))
    resources = _dict(container.get("resources"))
    if resources.get("limits") or resources.get("requests"):
        return [
            invalid(path, _policy_text(policy), "resourcesPolicy and resources cannot be configured together")
        ]
    errors: list[FieldError] = []
    regex = str(policy.get("targetContainersNameRegex") or "")
    if not regex:
        errors.append(required(f"{path}.targetContainersNameRegex", "invalid empty regex"))
    else:
        try:
            re.compile(regex)
        except re.error as err:
            errors.append(
                invalid(
                    f"{path}.targetContainersNameRegex",
                    regex,
                    f"invalid regex pattern: error parsing regexp: {err}",
                )
            )
    expr = _dict(policy.get("resourcesExpr"))
    expr_path = f"{path}.resourcesExpr"
    if expr.get("limits") is None and expr.get("requests") is None:
        errors.append(
            invalid(
                expr_path, GoValue(_expr_text(expr)), "at least one of limits or requests must be configured"
            )
        )
        return errors
    for kind in ("limits", "requests"):
        if expr.get(kind) is None:
            continue
        for resource in ("cpu", "memory"):
            expression = str(_dict(expr.get(kind)).get(resource) or "")
            message = expression_error(expression, resource) if expression else None
            if message:
                errors.append(invalid(f"{expr_path}.{kind}.{resource}", expression, message))
    return errors


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """``fieldpath.SplitMaybeSubscriptedPath``: ``metadata.labels['k']`` -> (metadata.labels, k)."""
    if not field_path.endswith("']"):
        return None
    head, sep, subscript = field_path[:-2].partition("['")
    return (head, subscript) if sep and head else None


def _downward_api_errors(container: Mapping[str, Any], path: str) -> list[FieldError]:
    """kruise ``validateDownwardAPI`` / ``validateObjectFieldSelector`` over ``transferEnv``
    (sidecarset_create_update_handler.go:462-509; ``ConvertDownwardAPIFieldLabel``,
    pkg/control/sidecarcontrol/util.go:472-486: only v1 and a subscripted labels/annotations path)."""
    errors: list[FieldError] = []
    for transfer in (_dict(t) for t in container.get("transferEnv") or ()):
        ref = _dict(transfer.get("sourceContainerNameFrom")).get("fieldRef")
        if not isinstance(ref, Mapping):
            continue
        ref_path = f"{path}.fieldRef"
        api_version, field_path = str(ref.get("apiVersion") or ""), str(ref.get("fieldPath") or "")
        if not api_version:
            errors.append(required(f"{ref_path}.apiVersion"))
            continue
        if not field_path:
            errors.append(required(f"{ref_path}.fieldPath"))
            continue
        split = _split_subscript(field_path)
        problem = ""
        if api_version != "v1":
            problem = f"unsupported pod version: {api_version}"
        elif split is None:
            problem = f"field label not supported: {field_path}"
        elif split[0] not in ("metadata.annotations", "metadata.labels"):
            problem = f"field path not supported: {split[0]}"
        if problem or split is None:
            errors.append(
                invalid(f"{ref_path}.fieldPath", field_path, f"error converting fieldPath: {problem}")
            )
            continue
        key = split[1].lower() if split[0] == "metadata.annotations" else split[1]
        errors.extend(invalid(ref_path, split[1], m) for m in meta.qualified_name_errors(key))
    return errors


def _container_errors(spec: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    init = [_dict(c) for c in spec.get("initContainers") or ()]
    containers = [_dict(c) for c in spec.get("containers") or ()]
    # kruise passes fldPath.Root() (``spec``) and indexes it: spec[i].resourcesPolicy
    for i, container in enumerate(init):
        if container.get("resourcesPolicy") is not None:
            path = f"spec[{i}].resourcesPolicy"
            if container.get("restartPolicy") != "Always":
                errors.append(
                    invalid(
                        path,
                        _policy_text(_dict(container.get("resourcesPolicy"))),
                        "resourcesPolicy is only supported for containers with RestartPolicy Always",
                    )
                )
            errors.extend(_resources_policy_errors(container, path))
    for i, container in enumerate(containers):
        policy = container.get("podInjectPolicy")
        if policy not in ("BeforeAppContainer", "AfterAppContainer"):
            errors.append(
                invalid("spec.container.podInjectPolicy", str(policy or ""), "unsupported pod inject policy")
            )
        share = _dict(container.get("shareVolumePolicy")).get("type")
        if share not in ("enabled", "disabled"):
            errors.append(
                invalid(
                    "spec.container.shareVolumePolicy", str(share or ""), "unsupported share volume policy"
                )
            )
        errors.extend(_downward_api_errors(container, f"spec[{i}].transferEnv"))
        if container.get("resourcesPolicy") is not None:
            errors.extend(_resources_policy_errors(container, f"spec[{i}].resourcesPolicy"))
    # ValidatePodCreate of kruise's fake pod: names unique across init containers and containers.
    seen: set[str] = set()
    for key, items in (("spec.initContainers", init), ("spec.containers", containers)):
        for i, container in enumerate(items):
            name = str(container.get("name") or "")
            if not name:
                errors.append(required(f"{key}[{i}].name"))
            elif name in seen:
                errors.append(duplicate(f"{key}[{i}].name", name))
            seen.add(name)
            if not container.get("image"):
                errors.append(required(f"{key}[{i}].image"))
    return errors


def _update_conflicts(spec: Mapping[str, Any], old_spec: Mapping[str, Any]) -> list[FieldError]:
    """kruise ``validateSidecarContainerConflict``: no new container names, upgradeType immutable."""
    old = {
        str(_dict(c).get("name")): _dict(_dict(c).get("upgradeStrategy")).get("upgradeType")
        for c in old_spec.get("containers") or ()
    }
    errors: list[FieldError] = []
    for container in (_dict(c) for c in spec.get("containers") or ()):
        name = str(container.get("name") or "")
        if name not in old:
            errors.append(invalid("spec.containers.name", name, f"container {name} is not found"))
            continue
        upgrade = _dict(container.get("upgradeStrategy")).get("upgradeType")
        if old[name] and upgrade != old[name]:
            errors.append(
                invalid(
                    "spec.containers.upgradeStrategy.upgradeType",
                    name,
                    f"container {name} upgradeType is immutable",
                )
            )
    return errors


def _patch_metadata_errors(spec: Mapping[str, Any], whitelist_error: str | None) -> list[FieldError]:
    """The patchPodMetadata part of ``validateSidecarSetSpec``: the whitelist (its message from
    the caller, who read kruise's configuration), then each patch's annotations and policy."""
    path = "spec.patchPodMetadata"
    errors = [required(path, whitelist_error)] if whitelist_error else []
    seen: set[str] = set()
    for patch in (_dict(p) for p in spec.get("patchPodMetadata") or ()):
        annotations = _dict(patch.get("annotations"))
        if not annotations:
            errors.append(required(path, "no annotations defined for SidecarSet"))
        for key in annotations:  # ValidateObjectMeta of a fake object at path patchPodMetadata
            errors.extend(
                invalid("patchPodMetadata.annotations", str(key), m)
                for m in meta.qualified_name_errors(str(key).lower())
            )
        if not patch.get("patchPolicy"):
            errors.append(required(path, "no patchPolicy defined for patchPodMetadata"))
        for key in annotations:
            if key in seen:
                errors.append(required(path, f"patch annotation[{key}] already exist"))
            seen.add(str(key))
    return errors


def _injection_strategy_errors(spec: Mapping[str, Any], revision_error: str | None) -> list[FieldError]:
    """``validateSidecarSetInjectionStrategy``: revisionName or customVersion, the revision found
    (``revision_error``: the caller's lookup), the policy."""
    revision = _dict(spec.get("injectionStrategy")).get("revision")
    if not isinstance(revision, Mapping):
        return []
    errors: list[FieldError] = []
    if revision.get("revisionName") is None and revision.get("customVersion") is None:
        errors.append(
            invalid(
                "revision",
                _sorted(dict(revision)),
                "revisionName and customVersion cannot be empty simultaneously",
            )
        )
    elif revision_error:
        errors.append(invalid("revision", "null", revision_error))
    policy = revision.get("policy")
    if policy not in (None, "", "Always", "Partial"):
        errors.append(
            invalid(
                "revision.policy",
                _sorted(dict(revision)),
                f"Invalid policy {policy}, supported: [Always, Partial]",
            )
        )
    return errors


def validate_sidecarset(
    obj: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    *,
    revision_error: str | None = None,
    whitelist_error: str | None = None,
) -> list[FieldError]:
    """kruise ``validateSidecarSet`` without the cluster-wide conflict check (:func:`validate_conflicts`).

    What needs cluster reads comes from the caller (the webhook): ``revision_error`` the detail
    when the pinned ControllerRevision is not found (``webhook.sidecarsetrevision.admission_error``),
    ``whitelist_error`` the patchPodMetadata whitelist's refusal
    (``workers.podmechanics.sidecarmeta.whitelist_error`` over kruise's configuration ConfigMap)."""
    name = str(_dict(obj.get("metadata")).get("name") or "")
    errors: list[FieldError] = []
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    else:
        if not re.match(_NAME_FMT, name):
            errors.append(
                invalid("metadata.name", name, meta.regex_error(_NAME_MSG, _NAME_FMT, "example-com"))
            )
        if len(name) > NAME_MAX_LEN:
            errors.append(invalid("metadata.name", name, meta.max_len_error(NAME_MAX_LEN)))
    spec = _dict(obj.get("spec"))
    for container in (_dict(c) for c in spec.get("initContainers") or ()):
        if is_native_sidecar(container) and _dict(spec.get("updateStrategy")).get("type") == "RollingUpdate":
            errors.append(
                required(
                    "spec.updateStrategy", "The initContainer in-place upgrade is not currently supported."
                )
            )
    selector = spec.get("selector")
    if selector is None:
        errors.append(required("spec.selector", "no selector defined for SidecarSet"))
    else:
        errors.extend(_selector_errors(_dict(selector), "spec.selector"))
    if spec.get("namespaceSelector") is not None:
        errors.extend(_selector_errors(_dict(spec["namespaceSelector"]), "spec.namespaceSelector"))
    errors.extend(_injection_strategy_errors(spec, revision_error))
    errors.extend(_strategy_errors(_dict(spec.get("updateStrategy")), "spec.updateStrategy"))
    if not spec.get("initContainers") and not spec.get("containers"):
        errors.append(required("spec", "no initContainer or container defined for SidecarSet"))
    else:
        errors.extend(_container_errors(spec))
    errors.extend(_patch_metadata_errors(spec, whitelist_error))
    if old is not None:
        errors.extend(_update_conflicts(spec, _dict(old.get("spec"))))
    return errors


# -- conflicts with the other SidecarSets (kruise validateSidecarConflict) ---------------------------


def _selector_values(selector: Mapping[str, Any]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {k: [str(v)] for k, v in _dict(selector.get("matchLabels")).items()}
    for expr in (_dict(e) for e in selector.get("matchExpressions") or ()):
        key = str(expr.get("key"))
        if expr.get("operator") == "In":
            values.setdefault(key, []).extend(str(v) for v in expr.get("values") or ())
        elif expr.get("operator") == "Exists":
            values[key] = ["ALL"]
    return values


def _disjoint(one: Mapping[str, Any], two: Mapping[str, Any]) -> bool:
    """kruise ``isDisjoint``."""
    known = _selector_values(one)
    for key, value in _dict(two.get("matchLabels")).items():
        if key in known and "ALL" not in known[key] and str(value) not in known[key]:
            return True
    for expr in (_dict(e) for e in two.get("matchExpressions") or ()):
        key, operator = str(expr.get("key")), expr.get("operator")
        values = [str(v) for v in expr.get("values") or ()]
        have = known.get(key)
        if operator == "In" and have is not None and "ALL" not in have and not set(have) & set(values):
            return True
        if operator == "NotIn" and have is not None and set(have) <= set(values):
            return True
        if operator == "Exists" and have is None:
            return True
        if operator == "DoesNotExist" and have is not None:
            return True
    return False


def selectors_overlap(one: object, two: object) -> bool:
    """kruise ``util.IsSelectorOverlapping``."""
    a, b = _dict(one), _dict(two)
    return not (_disjoint(a, b) or _disjoint(b, a))


def _namespace_selector(spec: Mapping[str, Any]) -> object:
    """The namespace selector kruise compares: the v1beta1 one, into which conversion folds
    v1alpha1's ``namespace`` (which wins; ``sidecarset_conversion.go``). A SidecarSet admitted at
    v1alpha1 carries ``namespace`` still, while the others are read at v1beta1."""
    if spec.get("namespace"):
        return {"matchLabels": {NAMESPACE_NAME_LABEL: str(spec["namespace"])}}
    return spec.get("namespaceSelector")


def validate_conflicts(obj: Mapping[str, Any], others: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Containers, init containers, volumes and patched annotations this SidecarSet shares with
    another on overlapping namespace and pod selectors, in kruise's messages."""
    spec = _dict(obj.get("spec"))
    name = _dict(obj.get("metadata")).get("name")
    init_in: dict[str, str] = {}
    containers_in: dict[str, str] = {}
    volumes_in: dict[str, tuple[str, Mapping[str, Any]]] = {}
    annotations_in: dict[str, tuple[str, str]] = {}
    for other in others:
        other_spec = _dict(other.get("spec"))
        other_name = str(_dict(other.get("metadata")).get("name"))
        ns_a, ns_b = _namespace_selector(spec), _namespace_selector(other_spec)
        if ns_a is not None and ns_b is not None and not selectors_overlap(ns_a, ns_b):
            continue
        if not selectors_overlap(spec.get("selector"), other_spec.get("selector")) or other_name == name:
            continue
        for c in other_spec.get("initContainers") or ():
            init_in[str(_dict(c).get("name"))] = other_name
        for c in other_spec.get("containers") or ():
            containers_in[str(_dict(c).get("name"))] = other_name
        for v in other_spec.get("volumes") or ():
            volumes_in[str(_dict(v).get("name"))] = (other_name, _dict(v))
        for patch in (_dict(p) for p in other_spec.get("patchPodMetadata") or ()):
            if patch.get("patchPolicy") != "Retain":
                for key in _dict(patch.get("annotations")):
                    annotations_in[key] = (other_name, str(patch.get("patchPolicy")))
    errors: list[FieldError] = []
    for key, seen in (("initContainers", init_in), ("containers", containers_in)):
        for c in (_dict(c) for c in spec.get(key) or ()):
            cname = str(c.get("name"))
            if cname in seen:
                errors.append(
                    invalid("spec.containers", cname, f"container {cname} already exist in {seen[cname]}")
                )
    for v in (_dict(v) for v in spec.get("volumes") or ()):
        vname = str(v.get("name"))
        if vname in volumes_in and dict(volumes_in[vname][1]) != dict(v):
            errors.append(
                invalid(
                    "spec.volumes",
                    vname,
                    f"volume {vname} is in conflict with sidecarset {volumes_in[vname][0]}",
                )
            )
    for patch in (_dict(p) for p in spec.get("patchPodMetadata") or ()):
        if patch.get("patchPolicy") == "Retain":
            continue
        for key in _dict(patch.get("annotations")):
            if key in annotations_in and "Overwrite" in (patch.get("patchPolicy"), annotations_in[key][1]):
                errors.append(
                    invalid(
                        "spec.patchPodMetadata",
                        key,
                        f"annotation {key} is in conflict with sidecarset {annotations_in[key][0]}",
                    )
                )
    return errors
