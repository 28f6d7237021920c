"""ImageListPullJob's shared rules against kruise v1.9.1, texts written out by hand from kruise's
code: ``V`` = ``pkg/webhook/imagelistpulljob/validating/imagelistpulljob_create_update_handler.go``
(v1beta1 lines; the v1alpha1 function repeats them 62 lines earlier), ``D`` =
``apis/apps/defaults/v1alpha1.go:373`` / ``v1beta1.go:187``. One row per rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.kruise import rules


def _ilpj(version: str = "v1beta1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"apps.kruise.io/{version}",
        "kind": "ImageListPullJob",
        "metadata": {"name": "list", "namespace": "ns"},
        "spec": {"images": ["nginx:1.25", "busybox:1.36"], **spec},
    }


def _messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [
        str(e) for e in rules.validate("ImageListPullJob", rules.default("ImageListPullJob", obj, old), old)
    ]


@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_defaults_are_the_completion_and_pull_policies_only(version: str) -> None:
    defaulted = rules.default("ImageListPullJob", _ilpj(version))
    assert defaulted["spec"]["completionPolicy"] == {"type": "Always"}
    assert defaulted["spec"]["pullPolicy"] == {"timeoutSeconds": 600, "backoffLimit": 3}
    # unlike ImagePullJob: no imagePullPolicy and no deletion-protection finalizer
    assert "imagePullPolicy" not in defaulted["spec"]
    assert "finalizers" not in defaulted["metadata"]
    kept = rules.default(
        "ImageListPullJob",
        _ilpj(version, pullPolicy={"timeoutSeconds": 30}, completionPolicy={"type": "Never"}),
    )
    assert kept["spec"]["pullPolicy"] == {"timeoutSeconds": 30, "backoffLimit": 3}
    assert kept["spec"]["completionPolicy"] == {"type": "Never"}
    assert _messages(_ilpj(version)) == []


CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "names and labels (V:144)",
        {"selector": {"names": ["a"], "matchLabels": {"x": "y"}}},
        "can not set both names and labelSelector in this spec.selector",
    ),
    (
        "invalid selector (V:147)",
        {"selector": {"matchExpressions": [{"key": "x", "operator": "In"}]}},
        "invalid selector: values: Invalid value: []string(nil): "
        "for 'in', 'notin' operators, values set can't be empty",
    ),
    ("duplicated names (V:153)", {"selector": {"names": ["a", "a"]}}, "duplicated name in selector names"),
    (
        "selector and podSelector (V:159)",
        {"selector": {"names": ["a"]}, "podSelector": {"matchLabels": {"x": "y"}}},
        "can not set both selector and podSelector",
    ),
    ("no images (V:167)", {"images": []}, "image can not be empty"),
    (
        "duplicate images (V:173)",
        {"images": ["nginx:1", "redis:7", "nginx:1"]},
        "images cannot have duplicate values",
    ),
    (
        "256 images (V:179)",
        {"images": [f"reg.io/app:v{i}" for i in range(256)]},
        "the maximum number of images cannot > 255",
    ),
    (
        "uppercase image (V:184)",
        {"images": ["nginx:1", "Nginx:1"]},
        "invalid image Nginx:1: invalid reference format: repository name must be lowercase",
    ),
    (
        "Never with a deadline (V:193)",
        {"completionPolicy": {"type": "Never", "activeDeadlineSeconds": 5}},
        "activeDeadlineSeconds and ttlSecondsAfterFinished can only work with Always CompletionPolicyType",
    ),
    (
        "unknown completion (V:196)",
        {"completionPolicy": {"type": "Sometimes"}},
        "unknown type of completionPolicy: Sometimes",
    ),
]


@pytest.mark.parametrize(("why", "spec", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("version", ["v1alpha1", "v1beta1"])
def test_validation_answers_with_kruises_text(
    why: str, spec: dict[str, Any], message: str, version: str
) -> None:
    assert _messages(_ilpj(version, **spec)) == [message]


def test_what_kruise_does_not_check_for_a_list() -> None:
    # ImagePullJob's parallelism and deadline-vs-timeout checks are not in the list job's handler
    spec = {"parallelism": "50%", "completionPolicy": {"type": "Always", "activeDeadlineSeconds": 60}}
    assert _messages(_ilpj(**spec)) == []
    # and an update is checked like a create (no immutable pullSecrets)
    assert _messages(_ilpj(pullSecrets=["b"]), _ilpj(pullSecrets=["a"])) == []
