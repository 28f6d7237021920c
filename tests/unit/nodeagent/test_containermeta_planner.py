"""The node agent's containermeta planner against kruise-daemon's (pkg/daemon/containermeta, v1.9.1).

Cases worked by hand from ``eventFilter``, ``manageContainerMetaSet`` and
``reportContainerMetaSet``. The env hashes are kruise's own, from the Go program of
tests/unit/podmechanics/test_podmechanics_envmeta.py (``hashEnvs``): ``[{"name":"TEST_ENV",
"value":"foo"}]`` -> 27323935, ``"bar"`` -> 3944769931, no env from metadata (JSON ``null``) ->
86995377. Plain hashes are whatever the kubelet's label says (the planner copies them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from nodeagent.containermeta.planner import (
    ENV_RETRY_SECONDS,
    env_reads,
    parse_environment,
    plan_meta,
    report_patch,
    should_sync,
    wanted,
)
from nodeagent.crr.daemon import RuntimeContainer

pytestmark = pytest.mark.unit

META = "apps.kruise.io/runtime-containers-meta"
FOO, BAR, NULL = 27323935, 3944769931, 86995377
NGINX = {
    "name": "nginx",
    "image": "nginx:1",
    "env": [
        {"name": "test", "value": "foo"},
        {"name": "TEST_ENV", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['test-env']"}}},
    ],
}
REDIS = {"name": "redis", "image": "redis:5", "command": ["sleep", "999"]}
T0 = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def _pod(
    label: str = "foo",
    ids: tuple[str, str] = ("containerd://n1", "containerd://r1"),
    meta: list[dict[str, Any]] | None = None,
    owner: str | None = "apps.kruise.io/v1alpha1",
    updating: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "namespace": "ns",
        "name": "clone-x",
        "uid": "u1",
        "labels": {"test-env": label},
    }
    if owner:
        metadata["ownerReferences"] = [
            {"apiVersion": owner, "kind": "CloneSet", "name": "clone", "controller": True}
        ]
    if meta is not None:
        metadata["annotations"] = {META: orjson.dumps({"containers": meta}).decode()}
    status: dict[str, Any] = {
        "containerStatuses": [
            {"name": "nginx", "containerID": ids[0]},
            {"name": "redis", "containerID": ids[1]},
        ]
    }
    if updating:
        status["conditions"] = [{"type": "InPlaceUpdateReady", "status": "False"}]
    return {"metadata": metadata, "spec": {"containers": [NGINX, REDIS]}, "status": status}


def _runtime(
    name: str, cid: str, *, state: str = "running", restarts: int = 0, plain: int = 11, age: int = 0
) -> RuntimeContainer:
    return RuntimeContainer(name, cid, state, restarts, T0 + dt.timedelta(seconds=age), T0, plain)


def _meta(name: str, cid: str, env_hash: int, *, restarts: int = 0, plain: int = 11) -> dict[str, Any]:
    return {
        "name": name,
        "containerID": cid,
        "restartCount": restarts,
        "hashes": {"plainHash": plain, "extractedEnvFromMetadataHash": env_hash},
    }


RUNNING = [_runtime("nginx", "containerd://n1", plain=0xAB), _runtime("redis", "containerd://r1", plain=0xCD)]
REPORTED = [
    _meta("nginx", "containerd://n1", FOO, plain=0xAB),
    _meta("redis", "containerd://r1", NULL, plain=0xCD),
]


def test_a_first_report_reads_the_env_of_the_container_that_takes_it_from_metadata() -> None:
    pod = _pod()
    # kruise's getter is lazy: only nginx reads a label, so only nginx's `env` is run
    assert env_reads(pod, RUNNING, env_from_metadata=True) == ["containerd://n1"]
    plan = plan_meta(
        pod, RUNNING, {"containerd://n1": {"TEST_ENV": "foo", "test": "foo"}}, env_from_metadata=True
    )
    assert plan.annotation is not None
    assert orjson.loads(plan.annotation) == {"containers": REPORTED}
    # kruise's util.DumpJSON: the struct's field order
    assert plan.annotation.startswith(
        '{"containers":[{"name":"nginx","containerID":"containerd://n1","restartCount":0,"hashes":{"plainHash":171,"extractedEnvFromMetadataHash":27323935}}'
    )
    assert plan.restart == ()
    assert plan.retry_after is None
    assert report_patch(plan.annotation) == {"metadata": {"annotations": {META: plan.annotation}}}


def test_an_unchanged_report_is_not_written_again() -> None:
    pod = _pod(meta=REPORTED)
    assert env_reads(pod, RUNNING, env_from_metadata=True) == []  # hashes kept from the report
    assert plan_meta(pod, RUNNING, {}, env_from_metadata=True).annotation is None


def test_a_changed_label_during_an_in_place_update_restarts_the_container_reading_it() -> None:
    pod = _pod(label="bar", meta=REPORTED, updating=True)
    plan = plan_meta(pod, RUNNING, {}, env_from_metadata=True)
    assert plan.restart == ("containerd://n1",)  # redis reads no metadata: its hash still matches
    assert plan.annotation is None
    # not while the pod is not in an in-place update (InPlaceUpdateReady not False)
    assert plan_meta(_pod(label="bar", meta=REPORTED), RUNNING, {}, env_from_metadata=True).restart == ()
    # nor with the gate off
    assert plan_meta(pod, RUNNING, {}, env_from_metadata=False).restart == ()


def test_the_restarted_container_is_reported_afresh_with_its_new_env() -> None:
    # the kubelet started nginx again (new ID, restart count 1, same spec hash); the newest
    # instance of a name is the one reported (FindContainerStatusByName)
    containers = [
        _runtime("nginx", "containerd://n1", state="exited", plain=0xAB),
        _runtime("nginx", "containerd://n2", restarts=1, plain=0xAB, age=30),
        _runtime("redis", "containerd://r1", plain=0xCD),
    ]
    pod = _pod(label="bar", ids=("containerd://n2", "containerd://r1"), meta=REPORTED, updating=True)
    assert env_reads(pod, containers, env_from_metadata=True) == ["containerd://n2"]
    plan = plan_meta(pod, containers, {"containerd://n2": {"TEST_ENV": "bar"}}, env_from_metadata=True)
    assert plan.annotation is not None
    assert orjson.loads(plan.annotation)["containers"] == [
        _meta("nginx", "containerd://n2", BAR, restarts=1, plain=0xAB),
        REPORTED[1],
    ]
    assert plan.restart == ()


def test_a_failed_env_read_reports_without_the_hash_and_looks_again_in_3s() -> None:
    plan = plan_meta(_pod(), RUNNING, {"containerd://n1": None}, env_from_metadata=True)
    assert plan.retry_after == ENV_RETRY_SECONDS == 3.0
    assert plan.annotation is not None
    nginx = orjson.loads(plan.annotation)["containers"][0]
    assert nginx["hashes"] == {"plainHash": 0xAB}  # omitempty: no hash yet


def test_with_the_env_gate_off_only_ids_counts_and_plain_hashes_are_reported() -> None:
    plan = plan_meta(_pod(), RUNNING, {}, env_from_metadata=False)
    assert plan.annotation is not None
    assert [c["hashes"] for c in orjson.loads(plan.annotation)["containers"]] == [
        {"plainHash": 0xAB},
        {"plainHash": 0xCD},
    ]
    assert env_reads(_pod(), RUNNING, env_from_metadata=False) == []


def test_a_container_not_running_gets_no_env_hash_and_is_not_read() -> None:
    containers = [_runtime("nginx", "containerd://n1", state="exited", plain=1), RUNNING[1]]
    assert env_reads(_pod(), containers, env_from_metadata=True) == []
    plan = plan_meta(_pod(), containers, {}, env_from_metadata=True)
    assert plan.annotation is not None
    assert orjson.loads(plan.annotation)["containers"][0]["hashes"] == {"plainHash": 1}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, _pod(owner=None), False),  # not owned by a kruise workload, not injected
        (None, _pod(owner="apps/v1"), False),
        (None, _pod(), True),  # containers started, nothing reported
        (None, _pod(meta=REPORTED), False),  # reported, env matches the labels
        (_pod(meta=REPORTED), _pod(ids=("containerd://n2", "containerd://r1"), meta=REPORTED), True),
        (_pod(meta=REPORTED), _pod(label="bar", meta=REPORTED), True),  # the label changed
        (None, _pod(meta=REPORTED[:1]), True),  # a report of fewer containers than the statuses
    ],
)
def test_wanted_is_kruises_event_filter(
    old: dict[str, Any] | None, new: dict[str, Any], expected: bool
) -> None:
    assert wanted(old, new, env_from_metadata=True) is expected


def test_a_sidecarset_injected_pod_is_wanted_and_gate_off_ignores_env_hashes() -> None:
    pod = _pod(owner=None, label="bar", meta=REPORTED)
    pod["metadata"]["annotations"]["kruise.io/sidecarset-hash"] = "{}"
    assert wanted(None, pod, env_from_metadata=True)
    assert not wanted(None, pod, env_from_metadata=False)


def test_a_container_count_change_is_wanted() -> None:
    old = _pod(meta=REPORTED)
    old["spec"] = {"containers": [NGINX]}
    assert wanted(old, _pod(meta=REPORTED), env_from_metadata=True)


def test_only_live_pods_with_statuses_are_synced() -> None:
    assert should_sync(_pod())
    deleting = _pod()
    deleting["metadata"]["deletionTimestamp"] = "2026-11-30T12:00:00Z"
    assert not should_sync(deleting)
    assert not should_sync({"metadata": {}, "status": {}})


def test_parse_environment_is_kruises_wrap_env_getter() -> None:
    output = b"PATH=/bin\nTEST_ENV=a=b\n  HOSTNAME=clone-x  \nnoequals\n\n"
    assert parse_environment(output) == {"PATH": "/bin", "TEST_ENV": "a=b", "HOSTNAME": "clone-x"}
