"""Update ordering by priorityStrategy and scatterStrategy (kruise ``pkg/util/updatesort``).

Expected orders are worked by hand from kruise's ``PrioritySorter`` and ``scatterSort``.
"""

from __future__ import annotations

from schemas.kruise.pub import UpdatePriorityStrategy, UpdateScatterTerm
from workers.podmechanics.pods import PodView, read_pod
from workers.podmechanics.updatesort import priority_sort, scatter


def _labelled(name: str, **labels: str) -> PodView:
    return read_pod({"metadata": {"name": name, "uid": f"uid-{name}", "labels": labels}})


def test_order_priority_larger_suffix_first_and_unlabelled_first_as_kruise() -> None:
    strategy = UpdatePriorityStrategy.from_wire({"orderPriority": [{"orderedKey": "rank"}]})
    pods = [_labelled("web-a", rank="p-1"), _labelled("web-b", rank="p-10"), _labelled("web-c")]
    ordered = [p.name for p in priority_sort(pods, strategy)]
    assert ordered == ["web-c", "web-b", "web-a"]


def test_weight_priority_higher_sum_first_stable_otherwise() -> None:
    strategy = UpdatePriorityStrategy.from_wire(
        {
            "weightPriority": [
                {"weight": 50, "matchSelector": {"matchLabels": {"tier": "canary"}}},
                {"weight": 10, "matchSelector": {"matchLabels": {"zone": "a"}}},
            ]
        }
    )
    pods = [
        _labelled("db-0"),
        _labelled("db-1", zone="a"),
        _labelled("db-2", tier="canary"),
        _labelled("db-3"),
        _labelled("db-4", tier="canary", zone="a"),
    ]
    assert [p.name for p in priority_sort(pods, strategy)] == ["db-4", "db-2", "db-1", "db-0", "db-3"]


def test_scatter_spreads_matching_pods() -> None:
    pods = [_labelled(f"web-{i}", zone="z1" if i < 3 else "z2") for i in range(9)]
    term = UpdateScatterTerm.from_wire({"key": "zone", "value": "z1"})
    ordered = [p.labels["zone"] for p in scatter(list(pods), pods, [term])]
    positions = [i for i, zone in enumerate(ordered) if zone == "z1"]
    assert positions[-1] == 8
    assert positions[0] < 3
    assert len(positions) == 3
