"""kruise's env-from-metadata hash (``containermeta``), which in-place updates wait on.

Expected hashes are kruise's own: ``extractedEnvFromMetadataHash`` computed by a Go program with
kruise v1.9.1's ``hashEnvs`` (``pkg/util/containermeta/env_hash.go``: FNV-32a of
``dump.ForHash(json.Marshal(envs))``, k8s.io/apimachinery v0.32.10), run once by hand; the values
are written out below, never computed by the code under test. (Moved from
tests/unit/cloneset/test_cloneset_envmeta.py with ``envmeta``.)
"""

from __future__ import annotations

from typing import Any

import pytest

from workers.podmechanics.envmeta import expected_env_hash

ENV_FROM_LABEL = {"name": "TEST_ENV", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['test-env']"}}}


def _env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


@pytest.mark.parametrize(
    ("env", "metadata", "golden"),
    [
        (
            [ENV_FROM_LABEL],
            {"labels": {"test-env": "bar"}},
            3944769931,
        ),  # [{"name":"TEST_ENV","value":"bar"}]
        ([ENV_FROM_LABEL], {"labels": {"test-env": "foo"}}, 27323935),  # [{"name":"TEST_ENV","value":"foo"}]
        ([], {}, 86995377),  # no env from metadata: json "null"
        (
            # sorted by name; a missing annotation gives an empty (omitted) value; Go escapes <&>
            [
                _env("Z", "metadata.annotations['z']"),
                ENV_FROM_LABEL,
                _env("A_ENV", "metadata.annotations['missing']"),
                {"name": "PLAIN", "value": "x"},  # a literal value is not from metadata
                _env("SIDECARSET_VERSION", "metadata.annotations['z']"),  # excluded by kruise
                _env("NODE", "spec.nodeName"),  # not a subscripted metadata path
            ],
            {"labels": {"test-env": "foo"}, "annotations": {"z": "<&>"}},
            2284145562,
        ),
    ],
)
def test_expected_env_hash_is_kruises(
    env: list[dict[str, Any]], metadata: dict[str, Any], golden: int
) -> None:
    assert expected_env_hash({"name": "app", "image": "nginx:1", "env": env}, metadata) == golden
