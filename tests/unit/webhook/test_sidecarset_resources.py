"""A sidecar's ``resourcesPolicy``: kruise's calculator, the resources computed at pod CREATE, and
the SidecarSet validation of the policy.

Expected values are kruise v1.9.1's own: the calculator rows from
pkg/util/calculator/calculator_test.go (line of each row cited), the aggregation rows from
pkg/webhook/pod/mutating/sidecarset_resources_test.go (``TestApplyResourcesPolicy``, cited), the
messages from pkg/webhook/sidecarset/validating/sidecarset_create_update_handler.go:511-630 and
pkg/util/calculator/{calculator.go:100-140,lexer.go:275-277}, worked by hand where no kruise
test covers the case.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise.rules import aggregate_message
from schemas.kruise.rules.calculator import CalculatorError, Value, evaluate, expression_error, go_g
from schemas.kruise.rules.quantity import Quantity
from schemas.kruise.rules.sidecarset import validate_sidecarset
from tests.unit.webhook.test_sidecarset_injection import NOW, _apply, _sidecarset
from webhook.sidecarset import InjectionError, inject
from webhook.sidecarsetresources import ResourcesPolicyError, sidecar_resources


def _q(text: str) -> Value:
    return Value(quantity=Quantity.parse(text))


@pytest.mark.parametrize(
    ("expression", "variables", "expected"),
    [
        ("cpu", {"cpu": "100m"}, "100m"),  # calculator_test.go:307
        ("cpu * 2", {"cpu": "50m"}, "100m"),  # :316
        ("max(cpu, 200m)", {"cpu": "100m"}, "200m"),  # :325
        ("min(max(max(max(0.5,0.5*cpu),cpu-1.0),cpu-1.0),3.0)", {"cpu": "0.5"}, "500m"),  # :334
        ("max(0.25, cpu)", {"cpu": "100m"}, "250m"),  # :343
        ("max(cpu, 0.75)", {"cpu": "500m"}, "750m"),  # :352
        ("min(cpu, 1.5)", {"cpu": "2.0"}, "1500m"),  # :370
        ("max(min(2*cpu,-cpu+3.0),2*cpu-3.0)", {"cpu": "1.5"}, "1500m"),  # :379
        ("memory + 100Mi", {"memory": "200Mi"}, "300Mi"),  # :404
        ("0.5 * memory + max(0, memory-2Gi)", {"memory": "8Gi"}, "10Gi"),  # :413
        ("0m + 0m", {}, "0"),  # :777
        ("1000Gi + 500Gi", {}, "1500Gi"),  # :782
        ("1.5Gi * 2", {}, "3Gi"),  # :787
        ("1Gi + 100Mi", {}, "1124Mi"),  # :792
    ],
)
def test_calculator_rows_of_kruises_own_tests(
    expression: str, variables: dict[str, str], expected: str
) -> None:
    result = evaluate(expression, {k: _q(v) for k, v in variables.items()})
    assert result.quantity is not None
    assert result.quantity.canonical() == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("2 + 3 * 4", None),
        # calculator.go:130-140: a negative result is refused (calculator_test.go:446-470 rows)
        ("10 - 20", "calculation result is negative: -10"),
        ("50m - 100m", "calculation result is negative: -50m"),
        ("1 / 0", "division by zero"),
        ("2Gi * 1Gi", "multiplication of two quantities"),
        ("1 / 1m", "division by quantity"),
        ("max(1)", "max function requires exactly 2 arguments, got 1"),
        ("avg(1, 2)", "unknown function: avg"),
        ("undefined_var", "undefined variable: undefined_var"),
        # yyLex.Error: the column after the token the grammar cannot take
        ("2 + @", "parse error: syntax error at line 1, col 6"),
        ("(2 + 3", "parse error: syntax error at line 1, col 7"),
        ("()", "parse error: syntax error at line 1, col 3"),
        ("", "parse error: syntax error at line 1, col 1"),
        ("max(1, 2, 3)", "parse error: syntax error at line 1, col 10"),
        # a semantic error before the syntax error is what Parse reports (calculator.go:104-107)
        ("x + )", "undefined variable: x"),
    ],
)
def test_calculator_errors(expression: str, message: str | None) -> None:
    if message is None:
        assert evaluate(expression, {}).number == 14
        return
    with pytest.raises(CalculatorError) as err:
        evaluate(expression, {})
    assert str(err.value) == message


def test_go_g_prints_floats_as_go_does() -> None:
    assert [go_g(x) for x in (-10.0, -0.5, 1234567.0, 0.0001, 0.00001, -2.5e-7)] == [
        "-10",
        "-0.5",
        "1.234567e+06",
        "0.0001",
        "1e-05",
        "-2.5e-07",
    ]


def _container(
    name: str, limits: dict[str, str] | None, requests: dict[str, str] | None, **extra: Any
) -> dict[str, Any]:
    resources = {k: v for k, v in (("limits", limits), ("requests", requests)) if v is not None}
    return {"name": name, "image": "nginx:1.14.2", "resources": resources, **extra}


def _sidecar(
    mode: str, regex: str, limits: dict[str, str] | None, requests: dict[str, str] | None
) -> dict[str, Any]:
    expr = {k: v for k, v in (("limits", limits), ("requests", requests)) if v is not None}
    return {
        "name": "sidecar1",
        "image": "sidecar:latest",
        "resourcesPolicy": {
            "targetContainersMode": mode,
            "targetContainersNameRegex": regex,
            "resourcesExpr": expr,
        },
    }


APPS = [
    _container("app1", {"cpu": "200m", "memory": "200Mi"}, {"cpu": "50m", "memory": "100Mi"}),
    _container("app2", {"cpu": "400m", "memory": "400Mi"}, {"cpu": "100m", "memory": "200Mi"}),
]


@pytest.mark.parametrize(
    ("containers", "init", "sidecar", "expected"),
    [
        (  # sidecarset_resources_test.go:46 "sum mode with percentage - basic"
            APPS,
            [],
            _sidecar(
                "sum", ".*", {"cpu": "cpu*50%", "memory": "200Mi"}, {"cpu": "cpu*50%", "memory": "100Mi"}
            ),
            {"limits": {"cpu": "300m", "memory": "200Mi"}, "requests": {"cpu": "75m", "memory": "100Mi"}},
        ),
        (  # :270 "sum mode - one container without CPU limit (unlimited)"
            [
                _container("app1", {"cpu": "200m", "memory": "200Mi"}, {"cpu": "100m", "memory": "100Mi"}),
                _container("app2", {"memory": "400Mi"}, {"cpu": "50m", "memory": "200Mi"}),
            ],
            [],
            _sidecar(
                "sum",
                ".*",
                {"cpu": "cpu*50%", "memory": "memory*30%"},
                {"cpu": "cpu*30%", "memory": "memory*20%"},
            ),
            {"limits": {"memory": "180Mi"}, "requests": {"cpu": "45m", "memory": "60Mi"}},
        ),
        (  # :337 "max mode - one container without Memory limit (unlimited)"
            [
                _container("app1", {"cpu": "200m", "memory": "200Mi"}, {"cpu": "100m", "memory": "100Mi"}),
                _container("app2", {"cpu": "400m"}, {"cpu": "200m"}),
            ],
            [],
            _sidecar(
                "max",
                ".*",
                {"cpu": "cpu*40%", "memory": "memory*30%"},
                {"cpu": "cpu*25%", "memory": "memory*20%"},
            ),
            {"limits": {"cpu": "160m"}, "requests": {"cpu": "50m", "memory": "20Mi"}},
        ),
        (  # :466 "init-container with resource policy (native sidecar)": only the native sidecar init
            [_container("app2", {"cpu": "600m", "memory": "1200Mi"}, {"cpu": "300m", "memory": "600Mi"})],
            [
                _container(
                    "app1",
                    {"cpu": "400m", "memory": "800Mi"},
                    {"cpu": "200m", "memory": "400Mi"},
                    restartPolicy="Always",
                ),
                _container("app2", {"cpu": "400m", "memory": "800Mi"}, {"cpu": "200m", "memory": "400Mi"}),
            ],
            _sidecar(
                "sum",
                "^app.*$",
                {"cpu": "max(cpu*30%, 50m)", "memory": "max(memory*25%, 100Mi)"},
                {"cpu": "cpu*20%", "memory": "memory*15%"},
            ),
            {"limits": {"cpu": "300m", "memory": "500Mi"}, "requests": {"cpu": "100m", "memory": "150Mi"}},
        ),
        (  # by hand: no target has a cpu request, so the request is computed from zero
            [_container("app1", {"cpu": "1"}, None)],
            [],
            _sidecar("sum", ".*", {"cpu": "cpu / 4"}, {"cpu": "max(cpu, 10m)"}),
            {"limits": {"cpu": "250m"}, "requests": {"cpu": "10m"}},
        ),
    ],
)
def test_resources_computed_as_kruises_table(
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]],
    sidecar: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    pod = {"spec": {"containers": containers, "initContainers": init}}
    assert sidecar_resources(pod, sidecar, {"sidecar1"}) == expected


def test_no_target_refuses_the_pod_and_kruise_sidecars_are_never_targets() -> None:
    pod = {"spec": {"containers": APPS}}
    sidecar = _sidecar("sum", "^nonexistent$", {"cpu": "cpu"}, None)
    with pytest.raises(
        ResourcesPolicyError, match=r'^no containers match the regex pattern "\^nonexistent\$"$'
    ):
        sidecar_resources(pod, sidecar, set())
    only_app1 = sidecar_resources(pod, _sidecar("sum", ".*", {"cpu": "cpu"}, None), {"app2"})
    assert only_app1 == {"limits": {"cpu": "200m"}}
    with pytest.raises(ResourcesPolicyError) as bad:
        sidecar_resources(pod, _sidecar("sum", ".*", {"cpu": "cpu *"}, None), set())
    assert str(bad.value) == (
        'failed to evaluate CPU limits expression: failed to parse expression "cpu *": '
        "parse error: syntax error at line 1, col 6"
    )


def test_injection_writes_the_computed_resources_and_drops_the_policy() -> None:
    sidecar = {
        **_sidecar("sum", ".*", {"cpu": "cpu*50%"}, {"memory": "memory*20%"}),
        "podInjectPolicy": "BeforeAppContainer",
        "shareVolumePolicy": {"type": "disabled"},
        "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
    }
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"containers": APPS},
    }
    injected = _apply(pod, inject(pod, [_sidecarset("log", [sidecar])], None, NOW))
    first = injected["spec"]["containers"][0]
    assert first["name"] == "sidecar1"
    assert "resourcesPolicy" not in first
    assert first["resources"] == {"limits": {"cpu": "300m"}, "requests": {"memory": "60Mi"}}
    none = {**sidecar, "resourcesPolicy": {**sidecar["resourcesPolicy"], "targetContainersNameRegex": "^db$"}}
    with pytest.raises(InjectionError, match=r'^no containers match the regex pattern "\^db\$"$'):
        inject(pod, [_sidecarset("log", [none])], None, NOW)


def _validated(container: dict[str, Any], init: bool = False) -> str:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "updateStrategy": {"type": "NotUpdate"},
    }
    if init:
        spec["initContainers"] = [container]
    else:
        spec["containers"] = [
            {**container, "podInjectPolicy": "BeforeAppContainer", "shareVolumePolicy": {"type": "disabled"}}
        ]
    return aggregate_message(validate_sidecarset({"metadata": {"name": "s"}, "spec": spec}, None))


def test_validation_messages() -> None:
    both = {**_sidecar("sum", ".*", {"cpu": "cpu"}, None), "resources": {"limits": {"cpu": "1"}}}
    assert _validated(both).endswith(": resourcesPolicy and resources cannot be configured together")
    assert _validated(both).startswith("spec[0].resourcesPolicy: Invalid value: v1beta1.ResourcesPolicy{")
    empty_regex = _sidecar("sum", "", {"cpu": "cpu"}, None)
    assert (
        _validated(empty_regex)
        == "spec[0].resourcesPolicy.targetContainersNameRegex: Required value: invalid empty regex"
    )
    no_expr = _sidecar("sum", ".*", None, None)
    assert _validated(no_expr) == (
        "spec[0].resourcesPolicy.resourcesExpr: Invalid value: v1beta1.ResourcesExpr{"
        "Limits:(*v1beta1.ResourceExprLimits)(nil), Requests:(*v1beta1.ResourceExprRequests)(nil)}: "
        "at least one of limits or requests must be configured"
    )
    # validateResourceExpression evaluates with the variable = the number 1 (cpu for cpu, memory for memory)
    bad = _sidecar("sum", ".*", {"cpu": "cpu - 2", "memory": "cpu"}, {"cpu": "cpu*"})
    assert _validated(bad) == (
        '[spec[0].resourcesPolicy.resourcesExpr.limits.cpu: Invalid value: "cpu - 2": '
        "invalid expression: calculation result is negative: -1, "
        'spec[0].resourcesPolicy.resourcesExpr.limits.memory: Invalid value: "cpu": '
        "invalid expression: undefined variable: cpu, "
        'spec[0].resourcesPolicy.resourcesExpr.requests.cpu: Invalid value: "cpu*": '
        "invalid expression: parse error: syntax error at line 1, col 5]"
    )
    assert expression_error("max(cpu*50%, 50m)", "cpu") is None
    init = _sidecar("sum", ".*", {"cpu": "cpu"}, None)
    assert _validated(init, init=True).startswith(
        "spec[0].resourcesPolicy: Invalid value: v1beta1.ResourcesPolicy{"
    )
    assert _validated(init, init=True).endswith(
        ": resourcesPolicy is only supported for containers with RestartPolicy Always"
    )
    assert _validated({**init, "restartPolicy": "Always"}, init=True) == ""
