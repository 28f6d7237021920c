"""UnitedDeployment: kruise's defaults (``SetDefaultsUnitedDeployment``) and validation
(``pkg/webhook/uniteddeployment/validating``), with kruise's messages.

Defaults: ``revisionHistoryLimit`` 10, ``updateStrategy.type`` Manual with an empty
``manualUpdate``, and ``minReplicas: 0`` on every subset when some subset sets min/max replicas
and none sets ``replicas``. Validation: ``replicas`` non-negative; the selector (required, valid,
not empty); exactly one template, its labels matched by the selector, no ``replicas`` /
``rollingUpdate.partition`` in a StatefulSet template; the subset replicas (kruise's
``validateSubsetReplicas``, message for message); subset names (required, unique, DNS labels);
``replicas`` forbidden on a subset under the Adaptive strategy; ``reserveUnschedulablePods`` only
with a CloneSet or Deployment template; partitions only for existing
subsets; on update, a subset's ``nodeSelectorTerm`` and ``tolerations`` may not change (kruise
reports a tolerations change twice; so does this). Not checked here: the pod template itself
(kruise's ``ValidatePodTemplateSpecFor*``), node selector terms and tolerations' own syntax (the
API server checks the workloads when they are written). Go renders some bad values (structs, an
``*int32``) in ways not reproduced: those values are shown as JSON. Pure; registered in RULES.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from schemas.kruise.rules import meta
from schemas.kruise.rules.errors import FieldError, GoValue, forbidden, invalid, required

JsonDict = dict[str, Any]
TEMPLATES = ("statefulSetTemplate", "advancedStatefulSetTemplate", "cloneSetTemplate", "deploymentTemplate")
ONE_OF = "statefulSetTemplate, advancedStatefulSetTemplate, cloneSetTemplate, or deploymentTemplate"
EXCLUSIVE = (
    "subset.Replicas and subset.MinReplicas/subset.MaxReplicas are mutually exclusive in a UnitedDeployment"
)
NEEDS_REPLICAS = "spec.replicas must be not empty if you set subset.minReplicas/maxReplicas"
MIN_OVER_MAX = (
    "sum of indicated subset.minReplicas should not be greater than sum of indicated subset.maxReplicas"
)
ALL_SUBSETS = "if UnitedDeployment replicas is not provided, replicas of all subsets should be provided"
NO_MATCH = "`selector` does not match template `labels`"
EMPTY_SELECTOR = "empty selector is invalid for statefulset"
ADAPTIVE_REPLICAS = "specify replicas use minReplicas/maxReplicas to enable adaptive strategy"
IMMUTABLE = "may not be changed in an update"
STATELESS_ONLY = "only stateless workloads (Deployment and CloneSet) are supported by reserved rescheduling"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def default_uniteddeployment(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> JsonDict:
    del old
    out: JsonDict = copy.deepcopy(dict(obj))
    spec: JsonDict = out.setdefault("spec", {})
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    strategy: JsonDict = spec.setdefault("updateStrategy", {})
    if not strategy.get("type"):
        strategy["type"] = "Manual"
    if strategy["type"] == "Manual" and strategy.get("manualUpdate") is None:
        strategy["manualUpdate"] = {}
    subsets = [s for s in _dict(spec.get("topology")).get("subsets") or () if isinstance(s, dict)]
    has_replicas = any(s.get("replicas") is not None for s in subsets)
    has_capacity = any(s.get("minReplicas") is not None or s.get("maxReplicas") is not None for s in subsets)
    if has_capacity and not has_replicas:
        for subset in subsets:
            if subset.get("minReplicas") is None:
                subset["minReplicas"] = 0
    return out


def _parse(total: int, value: object) -> tuple[int, str | None]:
    """``ParseSubsetReplicas`` with kruise's error texts (``total`` -1: unset)."""
    if isinstance(value, int):
        if value < 0:
            return 0, f"subset replicas ({value}) should not be less than 0"
        return value, None
    text = str(value)
    if total < 0:
        return 0, f"subsetReplicas ({text}) should not be string when unitedDeployment replicas is empty"
    if not text.endswith("%"):
        return 0, f"subset replicas ({text}) only support integer value or percentage value with a suffix '%'"
    try:
        percent = int(text[:-1])
    except ValueError:
        return (
            0,
            (
                f"subset replicas ({text}) should be correct percentage integer:"
                f' strconv.ParseInt: parsing "{text[:-1]}": invalid syntax'
            ),
        )
    if percent > 100 or percent < 0:
        return 0, f"subset replicas ({text}) should be in range [0, 100]"
    return int(total * percent / 100 + 0.5), None


def _subset_replicas(total: int, subsets: list[Mapping[str, Any]]) -> list[FieldError]:
    path = "spec.topology.subsets"
    errors: list[FieldError] = []
    sum_replicas = sum_min = sum_max = count_replicas = count_max = 0
    has_replicas = has_capacity = False
    for i, subset in enumerate(subsets):
        replicas = 0
        if subset.get("replicas") is not None:
            count_replicas += 1
            has_replicas = True
            replicas, err = _parse(total, subset["replicas"])
            if err:
                errors.append(invalid(f"{path}[{i}].replicas", subset["replicas"], err))
        sum_replicas += replicas
        low = 0
        if subset.get("minReplicas") is not None:
            has_capacity = True
            low, err = _parse(total, subset["minReplicas"])
            if err:
                errors.append(invalid(f"{path}[{i}].minReplicas", subset.get("maxReplicas"), err))
        sum_min += low
        high = 1000000
        if subset.get("maxReplicas") is not None:
            count_max += 1
            has_capacity = True
            high, err = _parse(total, subset["maxReplicas"])
            if err:
                errors.append(invalid(f"{path}[{i}].minReplicas", subset.get("maxReplicas"), err))
        sum_max += high
        if low > high:
            errors.append(
                invalid(
                    f"{path}[{i}].minReplicas",
                    subset.get("maxReplicas"),
                    f"subset[{i}].minReplicas must be more than or equal to maxReplicas",
                )
            )
    if has_replicas and has_capacity:
        errors.append(
            invalid(
                path,
                list(subsets),
                EXCLUSIVE,
            )
        )
        return errors
    if has_capacity:
        if total == -1:
            errors.append(invalid(path, total, NEEDS_REPLICAS))
        if count_max >= len(subsets):
            errors.append(invalid(path, count_max, "at least one subset.maxReplicas must be empty"))
        if sum_min > sum_max:
            errors.append(
                invalid(
                    path,
                    sum_min,
                    MIN_OVER_MAX,
                )
            )
    elif total != -1:
        if sum_replicas > total:
            errors.append(
                invalid(
                    path,
                    sum_replicas,
                    f"sum of indicated subset replicas {sum_replicas} should not be greater than"
                    f" UnitedDeployment replicas {total}",
                )
            )
        if count_replicas > 0 and count_replicas == len(subsets) and sum_replicas != total:
            errors.append(
                invalid(
                    path,
                    sum_replicas,
                    "if replicas of all subsets are provided, the sum of indicated subset replicas"
                    f" {sum_replicas} should equal UnitedDeployment replicas {total}",
                )
            )
    elif count_replicas != len(subsets):
        errors.append(
            invalid(
                path,
                sum_replicas,
                ALL_SUBSETS,
            )
        )
    return errors


def _template(template: Mapping[str, Any], selector: Mapping[str, Any] | None) -> list[FieldError]:
    path = "spec.template"
    present = [name for name in TEMPLATES if template.get(name) is not None]
    if not present:
        return [required(path, f"should provide one of {ONE_OF}")]
    errors: list[FieldError] = []
    if len(present) > 1:
        errors.append(invalid(path, dict(template), f"should provide only one of {ONE_OF}"))
    for name in present:
        body = _dict(template.get(name))
        labels = _dict(_dict(body.get("metadata")).get("labels"))
        if selector is not None and not meta.selector_matches(selector, labels):
            where = "statefulSetTemplate" if name == "advancedStatefulSetTemplate" else name
            errors.append(
                invalid(
                    f"{path}.{where}.metadata.labels",
                    dict(labels),
                    NO_MATCH,
                )
            )
        if name in ("statefulSetTemplate", "advancedStatefulSetTemplate"):
            spec = _dict(body.get("spec"))
            if spec.get("replicas") is not None:
                errors.append(
                    invalid(
                        f"{path}.{name}.spec.replicas",
                        spec["replicas"],
                        f"replicas in {name} will not be used",
                    )
                )
            strategy = _dict(spec.get("updateStrategy"))
            partition = _dict(strategy.get("rollingUpdate")).get("partition")
            if strategy.get("type") == "RollingUpdate" and partition is not None:
                errors.append(
                    invalid(
                        f"{path}.{name}.spec.updateStrategy.rollingUpdate.partition",
                        partition,
                        f"partition in {name} will not be used",
                    )
                )
    return errors


def validate_uniteddeployment(obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[FieldError]:
    spec = _dict(obj.get("spec"))
    errors: list[FieldError] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    errors.extend(meta.workload_selector_errors(selector, "spec.selector", EMPTY_SELECTOR))
    valid_selector: Mapping[str, Any] | None = None
    if isinstance(selector, Mapping) and meta.selector_as_selector_error(selector) is None:
        valid_selector = selector
    topology = _dict(spec.get("topology"))
    strategy = _dict(topology.get("scheduleStrategy"))
    template = _dict(spec.get("template"))
    if (
        strategy.get("type") == "Adaptive"
        and _dict(strategy.get("adaptive")).get("reserveUnschedulablePods") is True
        and (
            template.get("advancedStatefulSetTemplate") is not None
            or template.get("statefulSetTemplate") is not None
        )
    ):
        errors.append(invalid("spec.topology.scheduleStrategy", dict(strategy), STATELESS_ONLY))
    if valid_selector is not None or not isinstance(selector, Mapping):
        errors.extend(_template(template, valid_selector))
    subsets = [_dict(s) for s in topology.get("subsets") or ()]
    errors.extend(_subset_replicas(replicas if isinstance(replicas, int) else -1, subsets))
    adaptive = _dict(topology.get("scheduleStrategy")).get("type") == "Adaptive"
    names: set[str] = set()
    for i, subset in enumerate(subsets):
        name = str(subset.get("name") or "")
        where = f"spec.topology.subsets[{i}]"
        if not name:
            errors.append(required(f"{where}.name"))
        if name in names:
            errors.append(invalid(f"{where}.name", name, f"duplicated subset name {name}"))
        names.add(name)
        if len(name) > 63 or not _DNS_LABEL.match(name):
            detail = meta.regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters"
                " or '-', and must start and end with an alphanumeric character",
                "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                "my-name",
                "123-abc",
            )
            if len(name) > 63:
                detail = meta.max_len_error(63)
            errors.append(invalid(f"{where}.name", name, f"invalid subset name {detail}"))
        if subset.get("replicas") is not None and adaptive:
            errors.append(
                forbidden(
                    f"{where}.replicas",
                    ADAPTIVE_REPLICAS,
                )
            )
    partitions = _dict(_dict(_dict(spec.get("updateStrategy")).get("manualUpdate")).get("partitions"))
    for name in partitions:
        if name not in names:
            errors.append(
                invalid(
                    "spec.updateStrategy.partitions",
                    _go_partitions(partitions),
                    f"subset {name} does not exist",
                )
            )
    if old is not None:
        errors.extend(_topology_update(topology, _dict(_dict(old.get("spec")).get("topology"))))
    return errors


def _go_partitions(partitions: Mapping[str, Any]) -> GoValue:
    """``%#v`` of a ``map[string]int32`` (keys sorted)."""
    return GoValue(
        "map[string]int32{" + ", ".join(f'"{k}":{partitions[k]}' for k in sorted(partitions)) + "}"
    )


def _topology_update(topology: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    before = {str(_dict(s).get("name")): _dict(s) for s in old.get("subsets") or ()}
    subsets = [_dict(s) for s in topology.get("subsets") or ()]
    errors: list[FieldError] = []
    for i, subset in enumerate(subsets):
        prior = before.get(str(subset.get("name")))
        if prior is None:
            continue
        if (prior.get("nodeSelectorTerm") or {}) != (subset.get("nodeSelectorTerm") or {}):
            errors.append(forbidden(f"spec.topology.subsets[{i}].nodeSelectorTerm", IMMUTABLE))
        if prior.get("tolerations") != subset.get("tolerations"):
            errors.append(forbidden(f"spec.topology.subsets[{i}].tolerations", IMMUTABLE))
    for i, subset in enumerate(subsets):  # kruise checks tolerations a second time
        prior = before.get(str(subset.get("name")))
        if prior is not None and prior.get("tolerations") != subset.get("tolerations"):
            errors.append(forbidden(f"spec.topology.subsets[{i}].tolerations", IMMUTABLE))
    return errors
