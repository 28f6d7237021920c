"""kruise's env-from-metadata hash (``containermeta``), which in-place updates wait on.

Expected hashes are kruise's own: ``extractedEnvFromMetadataHash`` computed by a Go program with
kruise v1.9.1's ``hashEnvs`` (``pkg/util/containermeta/env_hash.go``: FNV-32a of
``dump.ForHash(json.Marshal(envs))``, k8s.io/apimachinery v0.32.10), run once by hand; the values
are written out below, never computed by the code under test. (Moved from
tests/unit/cloneset/test_cloneset_envmeta.py with ``envmeta``.)
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from workers.podmechanics.envmeta import (
    current_env_hash,
    expected_env_hash,
    has_metadata_env,
    kubelet_hash,
    plain_hash_consistent,
)

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


def test_current_env_hash_of_a_running_container_equals_the_expected_one_for_the_same_values() -> None:
    # GetCurrentHash reads the values from the container's environment by env name; the goldens
    # are the Go program's of the table above (TEST_ENV=bar, TEST_ENV=foo, no env from metadata)
    container = {"name": "app", "image": "nginx:1", "env": [ENV_FROM_LABEL, {"name": "test", "value": "x"}]}
    assert current_env_hash(container, {"TEST_ENV": "bar", "test": "x", "PATH": "/bin"}) == 3944769931
    assert current_env_hash(container, {"TEST_ENV": "foo"}) == 27323935
    assert current_env_hash({"name": "app", "image": "nginx:1"}, {"TEST_ENV": "foo"}) == 86995377
    assert has_metadata_env(container)
    assert not has_metadata_env({"name": "app", "env": [{"name": "test", "value": "x"}]})


def test_kubelet_hash_is_the_kubelets() -> None:
    # k8s.io/kubernetes v1.32.10 pkg/kubelet/container/helpers_test.go TestHashContainer: name
    # "test_container", image "foo/image:v1" (args and ports are not hashed since v1.31) -> 0x8e45cbd0
    container = {
        "name": "test_container",
        "image": "foo/image:v1",
        "args": ["/bin/sh"],
        "ports": [{"containerPort": 8001}],
    }
    assert kubelet_hash(container) == 0x8E45CBD0
    # the kubelet v1.36.3 of the real node, its io.kubernetes.container.hash label as the node agent
    # reported it in make conformance-realnode KINDS=CloneSet (cloneset.go:717, 2026-11-30)
    assert kubelet_hash({"name": "nginx", "image": "docker.io/library/nginx:alpine"}) == 2621266417
    assert kubelet_hash({"name": "nginx", "image": "docker.io/library/nginx:mainline-alpine"}) == 334159303


def _reported(plain_hash: int, container_id: str = "containerd://b") -> dict[str, Any]:
    meta = {
        "containers": [
            {
                "name": "test_container",
                "containerID": container_id,
                "restartCount": 1,
                "hashes": {"plainHash": plain_hash},
            }
        ]
    }
    return {
        "metadata": {"annotations": {"apps.kruise.io/runtime-containers-meta": orjson.dumps(meta).decode()}},
        "spec": {"containers": [{"name": "test_container", "image": "foo/image:v1"}]},
        "status": {"containerStatuses": [{"name": "test_container", "containerID": "containerd://b"}]},
    }


def test_plain_hash_consistent_needs_the_running_container_and_the_spec_hash() -> None:
    assert plain_hash_consistent(_reported(0x8E45CBD0))
    assert not plain_hash_consistent(_reported(0x8E45CBD0, "containerd://a"))  # an older container
    assert not plain_hash_consistent(_reported(1))
    assert not plain_hash_consistent({"spec": {"containers": [{"name": "test_container"}]}})  # no report
