"""Container launch priority on pod CREATE, as kruise v1.9.1 injects it (tables by hand from
pkg/webhook/pod/mutating/container_launch_priority_initialization{,_test}.go,
pkg/util/containerlaunchpriority/container_launch_priority_test.go and the order of
pod_create_update_handler.go: readiness gate, SidecarSet injection, then launch priority).

The expected pods are written out by hand (the barrier env literally, not from the helper under
test); the patch is applied with ``jsonpatch``, as the API server applies it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

import jsonpatch
import pytest

from flotilla.runtime.features import Feature, feature_gates_from_flag
from webhook.dispatch import MUTATE_PATH, AdmissionConfig, Cluster, Facts, admit, route_table
from webhook.launchpriority import initialize_launch_priority, launch_priority_patch
from webhook.review import AdmissionRequest, Verdict
from workers.podmechanics import launchpriority as lp

CONFIG = AdmissionConfig.defaults()


def _barrier(pod: str, key: str) -> dict[str, Any]:
    return {
        "name": "KRUISE_CONTAINER_BARRIER",
        "valueFrom": {"configMapKeyRef": {"name": f"{pod}-barrier", "key": key}},
    }


def _prio(value: str) -> dict[str, Any]:
    return {"name": "KRUISE_CONTAINER_PRIORITY", "value": value}


def _pod(containers: list[dict[str, Any]], name: str = "fake", **metadata: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "ns", **metadata}
    if name:
        meta["name"] = name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": containers}}


def _create(pod: dict[str, Any], suffix: str = "x2b4z", config: AdmissionConfig = CONFIG) -> Verdict:
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=pod)
    return initialize_launch_priority(request, config, Facts(name_suffix=suffix))


def _after(pod: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    assert verdict.allowed, verdict.message
    result: dict[str, Any] = jsonpatch.apply_patch(pod, list(verdict.patch))
    return result


ORDERED = {"apps.kruise.io/container-launch-priority": "Ordered"}

# (case, pod, expected containers; None: skipped, no patch)
CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]] | None]] = [
    # kruise's table #0: two containers, nothing asked
    ("nothing asked", _pod([{"name": "a"}, {"name": "b"}]), None),
    # kruise's table #1: Ordered, three containers -> 0, -1, -2
    (
        "Ordered annotation",
        _pod([{"name": "a"}, {"name": "b"}, {"name": "c"}], annotations=ORDERED),
        [
            {"name": "a", "env": [_barrier("fake", "p_0")]},
            {"name": "b", "env": [_barrier("fake", "p_-1")]},
            {"name": "c", "env": [_barrier("fake", "p_-2")]},
        ],
    ),
    # one container: skipped before anything, even with Ordered
    ("one container, Ordered", _pod([{"name": "a"}], annotations=ORDERED), None),
    # the env: a container without it is priority 0; existing env is kept and the barrier appended
    (
        "priority env",
        _pod([{"name": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b", "env": [_prio("10")]}]),
        [
            {"name": "a", "env": [{"name": "X", "value": "1"}, _barrier("fake", "p_0")]},
            {"name": "b", "env": [_prio("10"), _barrier("fake", "p_10")]},
        ],
    ),
    # every priority equal (non-zero): no ordering needed
    ("all equal", _pod([{"name": "a", "env": [_prio("3")]}, {"name": "b", "env": [_prio("3")]}]), None),
    # all zero: nothing asked
    ("all zero", _pod([{"name": "a", "env": [_prio("0")]}, {"name": "b", "env": [_prio("0")]}]), None),
    # Go's Atoi takes a sign and leading zeros
    (
        "signs and zeros",
        _pod([{"name": "a", "env": [_prio("+007")]}, {"name": "b", "env": [_prio("-1")]}]),
        [
            {"name": "a", "env": [_prio("+007"), _barrier("fake", "p_7")]},
            {"name": "b", "env": [_prio("-1"), _barrier("fake", "p_-1")]},
        ],
    ),
    # the last of two priority envs is the priority
    (
        "two envs, the last counts",
        _pod([{"name": "a", "env": [_prio("5"), _prio("1")]}, {"name": "b"}]),
        [
            {"name": "a", "env": [_prio("5"), _prio("1"), _barrier("fake", "p_1")]},
            {"name": "b", "env": [_barrier("fake", "p_0")]},
        ],
    ),
    # a non-zero first env asks for ordering, but the last (0) leaves every priority equal: skipped
    ("two envs, last is 0", _pod([{"name": "a", "env": [_prio("5"), _prio("0")]}, {"name": "b"}]), None),
    # Ordered wins: the env is not parsed (an invalid value does not refuse the pod)
    (
        "Ordered over env",
        _pod([{"name": "a", "env": [_prio("high")]}, {"name": "b"}], annotations=ORDERED),
        [
            {"name": "a", "env": [_prio("high"), _barrier("fake", "p_0")]},
            {"name": "b", "env": [_barrier("fake", "p_-1")]},
        ],
    ),
    # a barrier env already there is not looked at: kruise appends another
    (
        "barrier already set",
        _pod([{"name": "a", "env": [_barrier("fake", "p_0")]}, {"name": "b"}], annotations=ORDERED),
        [
            {"name": "a", "env": [_barrier("fake", "p_0"), _barrier("fake", "p_0")]},
            {"name": "b", "env": [_barrier("fake", "p_-1")]},
        ],
    ),
]


@pytest.mark.parametrize(("case", "pod", "expected"), CASES, ids=[c[0] for c in CASES])
def test_what_kruise_injects(case: str, pod: dict[str, Any], expected: list[dict[str, Any]] | None) -> None:
    verdict = _create(pod)
    assert verdict.allowed, case
    if expected is None:
        assert verdict.patch == (), case
        return
    after = _after(pod, verdict)
    assert after["spec"]["containers"] == expected, case
    assert after["metadata"]["name"] == "fake"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("high", 'strconv.Atoi: parsing "high": invalid syntax'),
        ("", 'strconv.Atoi: parsing "": invalid syntax'),
        (" 1", 'strconv.Atoi: parsing " 1": invalid syntax'),
        ("1_0", 'strconv.Atoi: parsing "1_0": invalid syntax'),
        ("1.5", 'strconv.Atoi: parsing "1.5": invalid syntax'),
        ("99999999999999999999", 'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ],
)
def test_a_priority_that_is_not_an_integer_refuses_the_pod(value: str, message: str) -> None:
    verdict = _create(_pod([{"name": "a", "env": [_prio(value)]}, {"name": "b"}]))
    assert (verdict.allowed, verdict.code, verdict.message) == (False, 500, message)


def test_a_priority_from_value_from_reads_as_empty_and_refuses() -> None:
    """kruise reads ``e.Value`` only: a ``valueFrom`` priority is the empty string to Atoi."""
    env = {"name": "KRUISE_CONTAINER_PRIORITY", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    verdict = _create(_pod([{"name": "a", "env": [env]}, {"name": "b"}]))
    assert (verdict.allowed, verdict.code, verdict.message) == (
        False,
        500,
        'strconv.Atoi: parsing "": invalid syntax',
    )


def test_a_pod_known_by_generate_name_is_named_for_its_barrier() -> None:
    pod = _pod([{"name": "a"}, {"name": "b"}], name="", generateName="web-", annotations=ORDERED)
    after = _after(pod, _create(pod, suffix="q7k2m"))
    assert after["metadata"]["name"] == "web-q7k2m"
    assert after["spec"]["containers"][1]["env"] == [_barrier("web-q7k2m", "p_-1")]


def test_a_long_generate_name_is_cut_to_58_characters() -> None:
    base = "w" * 70
    pod = _pod([{"name": "a"}, {"name": "b"}], name="", generateName=base, annotations=ORDERED)
    after = _after(pod, _create(pod, suffix="bcdfg"))
    assert after["metadata"]["name"] == "w" * 58 + "bcdfg"


def test_a_skipped_pod_keeps_its_generate_name() -> None:
    pod = _pod([{"name": "a"}, {"name": "b"}], name="", generateName="web-")
    assert _create(pod).patch == ()


def test_the_random_suffix_is_of_the_api_servers_alphabet() -> None:
    pod = _pod([{"name": "a"}, {"name": "b"}], name="", generateName="web-", annotations=ORDERED)
    ops = launch_priority_patch(pod, "")
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=pod)
    verdict = initialize_launch_priority(request, CONFIG, Facts())  # no suffix gathered: drawn
    name = _after(pod, verdict)["metadata"]["name"]
    assert name.startswith("web-")
    assert len(name) == 9
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert ops[0] == {"op": "add", "path": "/metadata/name", "value": "web-"}


def test_nothing_when_the_pod_webhook_gate_is_off() -> None:
    gates = feature_gates_from_flag("PodWebhook=false")
    pod = _pod([{"name": "a"}, {"name": "b"}], annotations=ORDERED)
    assert not gates[Feature.POD_WEBHOOK]
    assert _create(pod, config=AdmissionConfig(gates=gates)).patch == ()


def test_a_subresource_is_skipped() -> None:
    pod = _pod([{"name": "a"}, {"name": "b"}], annotations=ORDERED)
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", sub_resource="binding", object=pod)
    assert initialize_launch_priority(request, CONFIG, Facts()).patch == ()


# -- through the pod CREATE dispatch: after the readiness gate and the SidecarSet's sidecars --------

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


class Sidecars:
    """The reads SidecarSet injection makes, answered from a fixed list (no other read allowed)."""

    def __init__(self, sidecarsets: Sequence[Mapping[str, Any]]) -> None:
        self.sidecarsets = tuple(sidecarsets)

    async def injection_sidecarsets(self) -> Sequence[Mapping[str, Any]]:
        return self.sidecarsets

    async def namespace_labels(self, _namespace: str) -> Mapping[str, str]:
        return {}

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected read: {name}")


def _sidecarset(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kruise.io/v1beta1",
        "kind": "SidecarSet",
        "metadata": {
            "name": "logging",
            "annotations": {
                "kruise.io/sidecarset-hash": "h1",
                "kruise.io/sidecarset-hash-without-image": "h2",
            },
        },
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "containers": [
                {
                    "name": "agent",
                    "image": "agent:1",
                    "env": env,
                    "podInjectPolicy": "BeforeAppContainer",
                    "shareVolumePolicy": {"type": "disabled"},
                    "upgradeStrategy": {"upgradeType": "ColdUpgrade"},
                }
            ],
            "updateStrategy": {"type": "RollingUpdate", "partition": 0, "maxUnavailable": 1},
        },
        "status": {"latestRevision": "logging-abc"},
    }


def _dispatch(pod: dict[str, Any], sidecarsets: Sequence[Mapping[str, Any]]) -> Verdict:
    request = AdmissionRequest("u", "", "v1", "Pod", "CREATE", "ns", object=pod)
    routes = route_table()[MUTATE_PATH]
    return asyncio.run(admit(routes, MUTATE_PATH, request, CONFIG, cast(Cluster, Sidecars(sidecarsets))))


def _names_and_barriers(pod: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (
            c["name"],
            [
                e["valueFrom"]["configMapKeyRef"]["key"]
                for e in c.get("env", [])
                if e["name"] == lp.BARRIER_ENV
            ],
        )
        for c in pod["spec"]["containers"]
    ]


def test_an_injected_sidecar_is_ordered_with_the_pod_s_containers() -> None:
    """A single-container pod gets a sidecar first (BeforeAppContainer): two containers now, and
    with Ordered both get barriers, the sidecar first (p_0), as kruise orders the pod the
    sidecars left."""
    pod = _pod([{"name": "main", "image": "nginx"}], labels={"app": "web"}, annotations=ORDERED)
    verdict = _dispatch(pod, [_sidecarset([])])
    after = _after(pod, verdict)
    assert _names_and_barriers(after) == [("agent", ["p_0"]), ("main", ["p_-1"])]
    assert after["metadata"]["annotations"]["kruise.io/sidecarset-injected-list"] == "logging"


def test_a_sidecar_s_priority_env_orders_it() -> None:
    pod = _pod([{"name": "main", "image": "nginx"}], labels={"app": "web"})
    verdict = _dispatch(pod, [_sidecarset([_prio("100")])])
    assert _names_and_barriers(_after(pod, verdict)) == [("agent", ["p_100"]), ("main", ["p_0"])]


def test_without_sidecars_a_one_container_pod_is_left_alone() -> None:
    pod = _pod([{"name": "main", "image": "nginx"}], labels={"app": "other"}, annotations=ORDERED)
    verdict = _dispatch(pod, [_sidecarset([])])
    assert (verdict.allowed, verdict.patch) == (True, ())


def test_a_kruise_pod_gets_its_readiness_gate_and_its_barriers() -> None:
    owner = {"apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet", "name": "web", "controller": True}
    pod = _pod([{"name": "a"}, {"name": "b", "env": [_prio("1")]}], ownerReferences=[owner])
    after = _after(pod, _dispatch(pod, []))
    assert after["spec"]["readinessGates"] == [{"conditionType": "KruisePodReady"}]
    assert _names_and_barriers(after) == [("a", ["p_0"]), ("b", ["p_1"])]


def test_a_bad_priority_refuses_through_the_dispatch() -> None:
    pod = _pod([{"name": "a", "env": [_prio("x")]}, {"name": "b"}])
    verdict = _dispatch(pod, [])
    assert (verdict.allowed, verdict.code, verdict.message) == (
        False,
        500,
        'strconv.Atoi: parsing "x": invalid syntax',
    )


# -- the shared util (kruise pkg/util/containerlaunchpriority's tests) ------------------------------


@pytest.mark.parametrize(
    ("priority", "key"),
    [(5, "p_5"), (-3, "p_-3"), (0, "p_0"), (2147483647, "p_2147483647"), (-2147483647, "p_-2147483647")],
)
def test_key(priority: int, key: str) -> None:
    assert lp.key(priority) == key


@pytest.mark.parametrize(
    ("priority", "pod", "expected"),
    [
        (3, "test-pod", _barrier("test-pod", "p_3")),
        (-1, "my-app-deployment-abc123", _barrier("my-app-deployment-abc123", "p_-1")),
        (0, "zero-pod", _barrier("zero-pod", "p_0")),
        (
            1,
            "",
            {
                "name": "KRUISE_CONTAINER_BARRIER",
                "valueFrom": {"configMapKeyRef": {"name": "-barrier", "key": "p_1"}},
            },
        ),
    ],
)
def test_barrier_env(priority: int, pod: str, expected: dict[str, Any]) -> None:
    assert lp.barrier_env(priority, pod) == expected


def _ref_env(key: str) -> dict[str, Any]:
    return {"name": "KRUISE_CONTAINER_BARRIER", "valueFrom": {"configMapKeyRef": {"key": key}}}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ([_ref_env("p_5")], 5),
        ([_ref_env("p_-3")], -3),
        ([_ref_env("p_0")], 0),
        ([{"name": "OTHER_ENV", "value": "some-value"}], None),
        ([], None),
        ([{"name": "FIRST_ENV", "value": "v"}, _ref_env("p_10"), {"name": "LAST_ENV", "value": "v"}], 10),
        # edge cases: the prefix is not checked; a number that does not parse reads 0
        ([_ref_env("x_5")], 5),
        ([_ref_env("p_abc")], 0),
        ([_ref_env("p_")], 0),
        ([_ref_env("p_2147483647")], 2147483647),
        # Go's Atoi clamps an out-of-range value (its error ignored)
        ([_ref_env("p_99999999999999999999")], 2**63 - 1),
    ],
)
def test_container_priority(env: list[dict[str, Any]], expected: int | None) -> None:
    assert lp.container_priority({"name": "c", "env": env}) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"name": "KRUISE_CONTAINER_BARRIER", "value": "direct-value"},  # kruise: nil ValueFrom panics
        _ref_env("p"),  # kruise: key[2:] out of range panics
    ],
)
def test_container_priority_where_kruise_panics(env: dict[str, Any]) -> None:
    with pytest.raises(lp.BarrierEnvError):
        lp.container_priority({"name": "c", "env": [env]})


@pytest.mark.parametrize(
    ("priority", "pod"), [(42, "test-pod"), (-15, "n"), (0, "z"), (2147483647, "m"), (-2147483647, "m")]
)
def test_round_trip(priority: int, pod: str) -> None:
    assert lp.container_priority({"name": "c", "env": [lp.barrier_env(priority, pod)]}) == priority
