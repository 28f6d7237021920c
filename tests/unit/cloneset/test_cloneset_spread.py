"""kruise's topology-spread ranker (``workers.cloneset.spread``), derived by hand.

Each row is a small cluster (nodes and their labels), the CloneSet's pods on it, and the
topology keys; the whole ``uid -> rank`` map is asserted, plus the order scale-in would pick
victims in by rank alone (higher first, ties in pod order; ``[a, b]`` is a tie). The ranks
are written as sums of ``(n - i) * W(groups)`` with ``W(g) = log(g + 2)``, the way the ranker
builds them, and the comments say where each term comes from.

``active_order`` stands in for podsort's active-pods comparator (the caller's ``group_order``):
unscheduled first, then not ready first, then higher inner rank first; otherwise the order the
pods come in. That is enough to show where the order enters; the real comparator is podsort's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from workers.cloneset.spread import (
    HOSTNAME_KEY,
    same_node_ranks,
    scale_in_ranks,
    spread_constraints,
    spread_ranks,
    topology_weight,
)
from workers.podmechanics.pods import read_pod

ZONE = "topology.kubernetes.io/zone"
Pod = Mapping[str, Any]


def pod(uid: str, node: str = "", *, ready: bool = True) -> dict[str, Any]:
    """A pod as the API returns it, with only what ranking reads (uid, node, readiness)."""
    return {
        "metadata": {"name": uid, "uid": uid},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def node(name: str, zone: str | None = None, *, hostname: bool = True) -> tuple[str, dict[str, str]]:
    """A node's name and labels: hostname label = name, zone label when given."""
    labels = {HOSTNAME_KEY: name} if hostname else {}
    if zone is not None:
        labels[ZONE] = zone
    return name, labels


def _ready(p: Pod) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])


def active_order(group: Sequence[Pod], rank: Callable[[Pod], float] | None) -> list[Pod]:
    """Unscheduled < scheduled, not ready < ready, higher rank first; stable otherwise."""

    def key(p: Pod) -> tuple[bool, bool, float]:
        return (bool(p["spec"].get("nodeName")), _ready(p), -(rank(p) if rank else 0.0))

    return sorted(group, key=key)


def W(groups: int) -> float:
    return math.log(groups + 2)


@dataclass(frozen=True)
class Case:
    name: str
    nodes: list[tuple[str, dict[str, str]]]
    pods: list[dict[str, Any]]
    keys: tuple[str, ...]
    ranks: dict[str, float]
    order: list[list[str]] = field(default_factory=list)
    """Ranked pods, highest rank first; pods in one inner list tie."""


CASES = [
    Case(
        # zone a: n1 {a1, a2}, n2 {a3} -> 3 pods; zone b: n3 {b1} -> 1 pod. Two zones: W(2).
        # Inside zone a the same-node ranks break the tie: n1 holds two pods, so a1 (first of
        # n1 by the active order, not its last) has same-node rank 1, a2 and a3 rank 0
        # -> zone a sorted a1, a2, a3 -> 3, 2, 1 times W(2). Zone b: b1 is 1 of 1 -> 1 * W(2).
        "zone: the crowded zone's pods go first",
        [node("n1", "a"), node("n2", "a"), node("n3", "b")],
        [pod("a1", "n1"), pod("a2", "n1"), pod("a3", "n2"), pod("b1", "n3")],
        (ZONE,),
        {"a1": 3 * W(2), "a2": 2 * W(2), "a3": 1 * W(2), "b1": 1 * W(2)},
        [["a1"], ["a2"], ["a3", "b1"]],
    ),
    Case(
        # As above, but a3 is not ready: the active order puts it first in zone a (step 3
        # beats the same-node rank of step 5) -> a3, a1, a2 -> 3, 2, 1 times W(2).
        "zone: the active order decides inside a zone",
        [node("n1", "a"), node("n2", "a"), node("n3", "b")],
        [pod("a1", "n1"), pod("a2", "n1"), pod("a3", "n2", ready=False), pod("b1", "n3")],
        (ZONE,),
        {"a3": 3 * W(2), "a1": 2 * W(2), "a2": 1 * W(2), "b1": 1 * W(2)},
        [["a3"], ["a1"], ["a2", "b1"]],
    ),
    Case(
        # Hostname: one group per node, three nodes: W(3). No same-node rank inside (a group
        # is one node). n1 {x1, x2, x3} -> 3, 2, 1; n2 {y1} -> 1; n3 {z1, z2} -> 2, 1.
        "hostname: the fullest node's pods go first",
        [node("n1"), node("n2"), node("n3")],
        [
            pod("x1", "n1"),
            pod("x2", "n1"),
            pod("x3", "n1"),
            pod("y1", "n2"),
            pod("z1", "n3"),
            pod("z2", "n3"),
        ],
        (HOSTNAME_KEY,),
        {
            "x1": 3 * W(3),
            "x2": 2 * W(3),
            "x3": 1 * W(3),
            "y1": 1 * W(3),
            "z1": 2 * W(3),
            "z2": 1 * W(3),
        },
        [["x1"], ["x2", "z1"], ["x3", "y1", "z2"]],
    ),
    Case(
        # Zone alone would tie p1 with q1 (both first of a 2-pod zone) and p2 with q2.
        # Zone (2 zones, W(2)): a = n1 {p1, p2} -> p1 2, p2 1; b = n3 {q1}, n4 {q2} -> q1 2, q2 1.
        # Hostname (3 nodes, W(3)): n1 {p1, p2} -> p1 2, p2 1; n3 {q1} -> 1; n4 {q2} -> 1.
        # Sums: p1 = 2W(2) + 2W(3) > q1 = 2W(2) + W(3) > p2 = q2 = W(2) + W(3): the pods that
        # share a node go before those of the same zone that do not.
        "zone + hostname: sharing a node breaks the zone tie",
        [node("n1", "a"), node("n3", "b"), node("n4", "b")],
        [pod("p1", "n1"), pod("p2", "n1"), pod("q1", "n3"), pod("q2", "n4")],
        (ZONE, HOSTNAME_KEY),
        {
            "p1": 2 * W(2) + 2 * W(3),
            "p2": 1 * W(2) + 1 * W(3),
            "q1": 2 * W(2) + 1 * W(3),
            "q2": 1 * W(2) + 1 * W(3),
        },
        [["p1"], ["q1"], ["p2", "q2"]],
    ),
    Case(
        # n0 has no zone label: its pods r1, r2 are not ranked by the zone key (and the
        # spread ranker gives them no same-node rank of their own either), and n0 is no
        # group: one zone, W(1). Zone a = n1 {p1} -> 1 * W(1).
        "zone: nodes without the key are skipped",
        [node("n0", None), node("n1", "a")],
        [pod("r1", "n0"), pod("r2", "n0"), pod("p1", "n1")],
        (ZONE,),
        {"p1": 1 * W(1)},
        [["p1"]],
    ),
    Case(
        # "gone" is not among the nodes (deleted, or its GET failed): its pod is skipped, and
        # it is no group. One zone left: a = n1 {p1, p2} -> 2, 1 times W(1).
        "zone: a node that could not be read is skipped",
        [node("n1", "a")],
        [pod("g1", "gone"), pod("p1", "n1"), pod("p2", "n1")],
        (ZONE,),
        {"p1": 2 * W(1), "p2": 1 * W(1)},
        [["p1"], ["p2"]],
    ),
    Case(
        # u1, u2 have no node: never ranked (rank 0) and not counted in any group.
        # Hostname: n1 {p1} and n2 {q1} -> 1 * W(2) each.
        "unscheduled pods get rank 0",
        [node("n1", "a"), node("n2", "b")],
        [pod("u1"), pod("p1", "n1"), pod("u2"), pod("q1", "n2")],
        (HOSTNAME_KEY,),
        {"p1": 1 * W(2), "q1": 1 * W(2)},
        [["p1", "q1"]],
    ),
    Case(
        # An empty label value is a value (kruise checks the key exists): zones "" and "a".
        "zone: an empty value is a topology of its own",
        [node("n1", ""), node("n2", "a")],
        [pod("e1", "n1"), pod("e2", "n1"), pod("p1", "n2")],
        (ZONE,),
        {"e1": 2 * W(2), "e2": 1 * W(2), "p1": 1 * W(2)},
        [["e1"], ["e2", "p1"]],
    ),
    Case(
        # Two constraints on one key count twice (kruise keeps one entry per constraint).
        "zone twice: ranks double",
        [node("n1", "a"), node("n2", "b")],
        [pod("p1", "n1"), pod("p2", "n1"), pod("q1", "n2")],
        (ZONE, ZONE),
        {"p1": 2 * 2 * W(2), "p2": 2 * 1 * W(2), "q1": 2 * 1 * W(2)},
        [["p1"], ["p2", "q1"]],
    ),
    Case(
        # No node has the key: nobody is ranked.
        "a key no node has",
        [node("n1", "a")],
        [pod("p1", "n1"), pod("p2", "n1")],
        ("example.com/rack",),
        {},
        [],
    ),
]


def _order(ranks: Mapping[str, float], pods: Sequence[Pod]) -> list[list[str]]:
    uids = [p["metadata"]["uid"] for p in pods if p["metadata"]["uid"] in ranks]
    levels: list[list[str]] = []
    for uid in sorted(uids, key=lambda u: -ranks[u]):
        if levels and math.isclose(ranks[levels[-1][0]], ranks[uid]):
            levels[-1].append(uid)
        else:
            levels.append([uid])
    return levels


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_spread_ranks(case: Case) -> None:
    ranks = spread_ranks(case.pods, dict(case.nodes), case.keys, active_order)
    assert ranks == pytest.approx(case.ranks)
    assert set(ranks) == set(case.ranks)
    assert _order(ranks, case.pods) == case.order


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_pod_views_rank_as_their_json(case: Case) -> None:
    views = [read_pod(p) for p in case.pods]

    def view_order(group: Sequence[Any], rank: Callable[[Any], float] | None) -> list[Any]:
        by_uid = {p["metadata"]["uid"]: v for p, v in zip(case.pods, views, strict=True)}
        ordered = active_order(
            [v.raw for v in group], None if rank is None else lambda p: rank(by_uid[p["metadata"]["uid"]])
        )
        return [by_uid[p["metadata"]["uid"]] for p in ordered]

    assert spread_ranks(views, dict(case.nodes), case.keys, view_order) == spread_ranks(
        case.pods, dict(case.nodes), case.keys, active_order
    )


def test_topology_weight_is_log_of_groups_plus_two() -> None:
    assert [topology_weight(g) for g in (0, 1, 2, 3, 5000)] == [math.log(g + 2) for g in (0, 1, 2, 3, 5000)]
    # One pod in each of 4 zones: every pod is 1 of 1 in its zone -> rank 1 * log(4 + 2).
    nodes = dict(node(f"n{i}", f"z{i}") for i in range(4))
    pods = [pod(f"p{i}", f"n{i}") for i in range(4)]
    assert spread_ranks(pods, nodes, (ZONE,), active_order) == pytest.approx(
        {f"p{i}": math.log(6) for i in range(4)}
    )


def test_hostname_groups_get_no_inner_rank_and_other_keys_do() -> None:
    """kruise passes the same-node ranker into the group sort except for the hostname key."""
    seen: list[tuple[list[str], list[float] | None]] = []

    def recording(group: Sequence[Pod], rank: Callable[[Pod], float] | None) -> list[Pod]:
        seen.append(
            ([p["metadata"]["uid"] for p in group], None if rank is None else [rank(p) for p in group])
        )
        return active_order(group, rank)

    nodes = dict([node("n1", "a"), node("n2", "a")])
    pods = [pod("p1", "n1"), pod("p2", "n1"), pod("p3", "n2")]
    spread_ranks(pods, nodes, (ZONE, HOSTNAME_KEY), recording)
    # First the same-node ranks (n1 has two pods: one group_order call without a rank), then
    # the zone group with the same-node ranks (p1: 1), then one group per host without.
    assert seen == [
        (["p1", "p2"], None),
        (["p1", "p2", "p3"], [1.0, 0.0, 0.0]),
        (["p1", "p2"], None),
        (["p3"], None),
    ]


def test_same_node_ranks() -> None:
    # n1 {a, b, c}: sorted a, b, c, the last (c) is kept unranked -> a 2, b 1.
    # n2 {d, e} with d not ready: sorted d, e -> d 1. n3 {f} alone and u unscheduled: no rank.
    pods = [pod("a", "n1"), pod("d", "n2", ready=False), pod("b", "n1"), pod("e", "n2"), pod("c", "n1")]
    pods += [pod("f", "n3"), pod("u")]
    assert same_node_ranks(pods, active_order) == {"a": 2.0, "b": 1.0, "d": 1.0}


def test_scale_in_ranks_picks_the_ranker_as_choose_pods_to_delete_does() -> None:
    nodes = dict([node("n1", "a"), node("n2", "b")])
    pods = [pod("p1", "n1"), pod("p2", "n1"), pod("q1", "n2")]
    assert scale_in_ranks(pods, nodes, (), active_order) == same_node_ranks(pods, active_order) == {"p1": 1.0}
    assert scale_in_ranks(pods, nodes, (ZONE,), active_order) == spread_ranks(
        pods, nodes, (ZONE,), active_order
    )


@pytest.mark.parametrize(
    ("spec", "keys"),
    [
        ({}, ()),
        ({"topologySpreadConstraints": []}, ()),
        ({"topologySpreadConstraints": [{"topologyKey": ZONE, "maxSkew": 1}]}, (ZONE,)),
        (
            {
                "topologySpreadConstraints": [
                    {"topologyKey": HOSTNAME_KEY, "maxSkew": 1, "whenUnsatisfiable": "ScheduleAnyway"},
                    {"maxSkew": 1},  # no key: nothing to group by
                    {"topologyKey": ZONE, "maxSkew": 2},
                    {"topologyKey": HOSTNAME_KEY, "maxSkew": 3, "whenUnsatisfiable": "DoNotSchedule"},
                ]
            },
            (HOSTNAME_KEY, ZONE, HOSTNAME_KEY),
        ),
        ({"topologySpreadConstraints": "not a list"}, ()),
    ],
)
def test_spread_constraints_reads_the_template(spec: dict[str, Any], keys: tuple[str, ...]) -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}], **spec}}
    assert spread_constraints(template) == keys
