"""kruise's topology-spread ranker for CloneSet scale-in: which pods sit in crowded topologies.

When the CloneSet's pod template has ``spec.topologySpreadConstraints``, kruise's
``choosePodsToDelete`` ranks the candidates with ``NewSpreadConstraintsRanker`` instead of the
same-node ranker, and the rank decides step 5 of the victim order (after deletion cost; a
higher rank is deleted first). For each constraint's ``topologyKey``:

- the pods are grouped by their node's value of that label (pods that are not scheduled, on a
  node that could not be read, or on a node without the label are left out of that key);
- each group is sorted by the active-pods order (``ActivePodsWithRanks`` without an
  availability check), with the same-node ranks inside unless the key is
  ``kubernetes.io/hostname``;
- the pod at index ``i`` of a group of ``n`` gets ``(n - i) * log(groups + 2)`` added to its
  rank, where ``groups`` is how many distinct values the key has among the pods' nodes
  (``topologyNormalizingWeight``).

So the most crowded topology's least valuable pods get the highest ranks, and a key with more
values weighs more. Pods nobody ranked have rank 0. Nodes (and the pods in a group) come in
the order of the pods given; ties within a group are whatever ``group_order`` makes of them
(kruise's ``sort.Sort`` is not stable, so for large groups its tie order is unspecified).

Pure, no I/O: the node labels come from the shell (``workers.cloneset.nodes.node_labels``,
called by ``observe`` with the pods' node names), and the active-pods order comes
from the caller (``podsort``), so this module has no opinion on how pods compare.

How ``podsort`` plugs it in::

    keys = spread_constraints(raw_template)             # () -> keep the same-node ranker
    def group_order(group, rank):                       # ActivePodsWithRanks, no AvailableFunc
        return sorted(group, key=cmp_to_key(lambda a, b: compare(a, b, rank)))
    ranks = scale_in_ranks(pods, labels_by_node, keys, group_order)  # uid -> rank
    # step 5 of the victim order: ranks.get(pod.uid, 0.0), higher first

Pods are raw pod JSON (``metadata.uid``, ``spec.nodeName``) or any record with ``uid`` and
``node_name`` attributes (``pods.PodView``); ranks are keyed by uid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from workers.podmechanics.kube_json import as_object, objects, text

#: The node label the hostname topology uses; inside its groups no same-node rank applies
#: (each group is one node already).
HOSTNAME_KEY = "kubernetes.io/hostname"


class Placed(Protocol):
    """A pod record that knows its uid and node (``pods.PodView`` is one)."""

    @property
    def uid(self) -> str: ...

    @property
    def node_name(self) -> str: ...


#: A pod: raw JSON, or a record with ``uid`` / ``node_name``.
P = TypeVar("P", bound="Mapping[str, object] | Placed")

#: Sorts one group of pods by the active-pods order (``ActivePodsWithRanks`` without an
#: availability check; first = first to delete) and returns the same pods. The rank function,
#: when given, is ``Ranker.GetRank``: at step 5 of that order a higher rank sorts first.
GroupOrder = Callable[[Sequence[P], Callable[[P], float] | None], list[P]]


def spread_constraints(template: Mapping[str, object]) -> tuple[str, ...]:
    """The ``topologyKey`` of each ``spec.topologySpreadConstraints`` entry of a pod template.

    In order, duplicates kept (as kruise's ``GetPodSpreadConstraint``: two constraints on
    one key count twice); entries without a key are skipped. Empty: no spread ranking.
    """
    keys = (
        text(constraint, "topologyKey")
        for constraint in objects(template, "spec", "topologySpreadConstraints")
    )
    return tuple(key for key in keys if key)


def _placement(pod: Mapping[str, object] | Placed) -> tuple[str, str]:
    """``(uid, node name)`` of raw pod JSON or a pod record ('' when unset)."""
    if isinstance(pod, Mapping):
        metadata, spec = as_object(pod.get("metadata")), as_object(pod.get("spec"))
        return text(metadata, "uid"), text(spec, "nodeName")
    return pod.uid, pod.node_name


def _by_node(pods: Sequence[P]) -> dict[str, list[tuple[str, P]]]:
    """Scheduled pods by node name, nodes and pods in the order the pods come."""
    on_node: dict[str, list[tuple[str, P]]] = {}
    for pod in pods:
        uid, node = _placement(pod)
        if node:
            on_node.setdefault(node, []).append((uid, pod))
    return on_node


def _ranked(ordered: Sequence[P]) -> list[tuple[str, int]]:
    """``(uid, n - i)`` for the pod at index ``i`` of ``n``."""
    return [(_placement(pod)[0], len(ordered) - index) for index, pod in enumerate(ordered)]


def same_node_ranks(pods: Sequence[P], group_order: GroupOrder[P]) -> dict[str, float]:
    """kruise's ``NewSameNodeRanker``: on a node with ``n > 1`` of the pods, all but the last
    of the active-pods order get ``n - 1 - i``; pods alone on their node and unscheduled pods
    get nothing (rank 0)."""
    ranks: dict[str, float] = {}
    for placed in _by_node(pods).values():
        if len(placed) <= 1:
            continue
        ordered = group_order([pod for _, pod in placed], None)[:-1]
        for uid, rank in _ranked(ordered):
            ranks[uid] = float(rank)
    return ranks


def topology_weight(groups: int) -> float:
    """``log(groups + 2)``: a key with more values among the nodes weighs more (kruise's
    ``topologyNormalizingWeight``)."""
    return math.log(groups + 2)


def spread_ranks(
    pods: Sequence[P],
    node_labels: Mapping[str, Mapping[str, str]],
    keys: Sequence[str],
    group_order: GroupOrder[P],
) -> dict[str, float]:
    """kruise's ``NewSpreadConstraintsRanker``: uid -> rank, higher deleted first.

    ``node_labels`` maps node name -> labels for the nodes that could be read (a pod on a
    node missing from it is not ranked, as kruise skips nodes its GET failed for); ``keys``
    is :func:`spread_constraints`; ``group_order`` sorts a group by the active-pods order.
    Pods without a rank (unscheduled, unknown node, no topology label) are left out: rank 0.
    """
    on_node = {name: placed for name, placed in _by_node(pods).items() if name in node_labels}
    inner_ranks = same_node_ranks(pods, group_order)

    def inner(pod: P) -> float:
        return inner_ranks.get(_placement(pod)[0], 0.0)

    ranks: dict[str, float] = {}
    for key in keys:
        groups: dict[str, list[P]] = {}
        for name, placed in on_node.items():
            labels = node_labels[name]
            if key in labels:
                groups.setdefault(labels[key], []).extend(pod for _, pod in placed)
        weight = topology_weight(len(groups))
        use_inner = None if key == HOSTNAME_KEY else inner
        for group in groups.values():
            for uid, rank in _ranked(group_order(group, use_inner)):
                ranks[uid] = ranks.get(uid, 0.0) + rank * weight
    return ranks


def scale_in_ranks(
    pods: Sequence[P],
    node_labels: Mapping[str, Mapping[str, str]],
    keys: Sequence[str],
    group_order: GroupOrder[P],
) -> dict[str, float]:
    """The ranker ``choosePodsToDelete`` picks: spread ranks when the template has spread
    constraints (``keys`` not empty), else the same-node ranks (``node_labels`` unused)."""
    if keys:
        return spread_ranks(pods, node_labels, keys, group_order)
    return same_node_ranks(pods, group_order)
