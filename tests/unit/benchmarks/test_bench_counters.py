"""Unit tests of the benchmarks' pure helpers around the numbers: Prometheus counter deltas,
the pod predicates that decide when a timed step is done, and the protocol loop's pod."""

from __future__ import annotations

from typing import Any

from benchmarks.harness.podwatch import PodState, all_updated, ready_count
from benchmarks.harness.promscrape import counters, delta
from benchmarks.harness.rawloop import conditions_true, protocol_pod

METRICS = """\
# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",resource="pods",scope="namespace",verb="POST"} 5
apiserver_request_total{code="409",resource="pods",scope="namespace",verb="POST"} 2
apiserver_request_total{code="200",resource="pods",scope="namespace",verb="GET"} 7
# HELP flotilla_reconciles_total Reconciles.
# TYPE flotilla_reconciles_total counter
flotilla_reconciles_total{outcome="success",type="cloneset"} 3.0
# HELP other_total Not wanted.
# TYPE other_total counter
other_total 9.0
"""


def test_counters_sum_over_the_labels_not_kept() -> None:
    wanted = {"apiserver_request_total": ("verb", "resource"), "flotilla_reconciles_total": ()}
    assert counters(METRICS, wanted) == {
        "apiserver_request_total{verb=POST,resource=pods}": 7.0,
        "apiserver_request_total{verb=GET,resource=pods}": 7.0,
        "flotilla_reconciles_total": 3.0,
    }


def test_delta_keeps_only_what_changed() -> None:
    assert delta({"a": 1.0, "b": 2.0}, {"a": 4.0, "b": 2.0, "c": 1.0}) == {"a": 3.0, "c": 1.0}


def pod(
    ready: bool = True, image: str = "v1", spec_image: str | None = None, deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "p", "uid": "u"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": metadata,
        "spec": {"containers": [{"name": "app", "image": spec_image or image}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "image": image}],
        },
    }


def test_pod_state_from_pod() -> None:
    state = PodState.from_pod(pod(ready=False, image="v1", spec_image="v2"))
    assert state == PodState(uid="u", ready=False, deleting=False, spec_image="v2", running_image="v1")
    bare = PodState.from_pod({"metadata": {"name": "p"}})
    assert (bare.ready, bare.running_image, bare.spec_image) == (False, None, "")


def test_ready_count_ignores_pods_being_deleted() -> None:
    pods = {
        "a": PodState.from_pod(pod()),
        "b": PodState.from_pod(pod(deleting=True)),
        "c": PodState.from_pod(pod(ready=False)),
    }
    assert ready_count(pods) == 1


def test_all_updated_needs_exactly_n_live_pods_ready_on_the_image() -> None:
    two_new = {"a": PodState.from_pod(pod(image="v2")), "b": PodState.from_pod(pod(image="v2"))}
    assert all_updated(two_new, 2, "v2")
    assert not all_updated(two_new, 3, "v2")
    leaving = {**two_new, "old": PodState.from_pod(pod(image="v1", deleting=True))}
    assert all_updated(leaving, 2, "v2")
    swapped_not_ready = {**two_new, "b": PodState.from_pod(pod(image="v2", ready=False))}
    assert not all_updated(swapped_not_ready, 2, "v2")
    spec_only = {**two_new, "b": PodState.from_pod(pod(image="v1", spec_image="v2"))}
    assert not all_updated(spec_only, 2, "v2")


def test_protocol_loop_pod_carries_kruise_gates_and_sets_them_true() -> None:
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {"containers": [{"name": "app"}]},
    }
    pod = protocol_pod(template)
    # kruise's CloneSet pod: InPlaceUpdateReady (CloneSet) and KruisePodReady (pod webhook) gates
    assert pod["spec"]["readinessGates"] == [
        {"conditionType": "InPlaceUpdateReady"},
        {"conditionType": "KruisePodReady"},
    ]
    assert "readinessGates" not in template["spec"]
    patch = conditions_true("2026-11-30T00:00:00Z")
    assert {(c["type"], c["status"]) for c in patch["status"]["conditions"]} == {
        ("InPlaceUpdateReady", "True"),
        ("KruisePodReady", "True"),
    }
