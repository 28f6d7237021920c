"""Node labels for the CloneSet's scale-in topology ranking: one GET per node its pods are on.

``observe`` calls :func:`node_labels` with the ``spec.nodeName`` of the CloneSet's pods when
the pod template has ``topologySpreadConstraints`` (``spread.spread_constraints`` is not
empty); the result is the ``node_labels`` argument of ``spread.spread_ranks`` /
``spread.scale_in_ranks``::

    keys = spread_constraints(raw_template)
    labels = await node_labels(read, (read_pod(p).node_name for p in pods)) if keys else {}

Each distinct node is read once, concurrently, through the worker's :class:`StateReader`.
As kruise's ``NewSpreadConstraintsRanker`` does, a node that is gone or cannot be read is
left out (its pods are simply not ranked by topology): a reconcile never fails over it. A
403 means the worker's ServiceAccount lacks ``get`` on ``nodes`` (the chart grants it in
``workers.cloneset.rules``); it is logged as a warning once per reader (one per worker
process) and at debug level after that. Other failures are logged as one warning per call.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable

from flotilla.runtime.errors import KubeError
from flotilla.runtime.kube import Resource
from workers.podmechanics.kube_json import as_object
from workers.runtime.observe import StateReader

log = logging.getLogger("flotilla.worker.cloneset.nodes")

#: core/v1 Nodes (cluster-scoped).
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)

#: Readers whose 403 has been logged as a warning (readers that cannot be weakly referenced
#: share the ``None`` entry of ``_told_once``).
_told: weakref.WeakSet[StateReader] = weakref.WeakSet()
_told_once: set[None] = set()


def _first_forbidden(read: StateReader) -> bool:
    """True the first time a 403 is seen through ``read``."""
    try:
        if read in _told:
            return False
        _told.add(read)
    except TypeError:
        if None in _told_once:
            return False
        _told_once.add(None)
    return True


async def _labels(read: StateReader, name: str) -> dict[str, str] | KubeError | None:
    """The node's labels; None when it is gone; the error when it cannot be read."""
    try:
        node = await read.get(NODES, "", name)
    except KubeError as err:
        return err
    if node is None:
        return None
    labels = as_object(as_object(node.get("metadata")).get("labels"))
    return {key: value for key, value in labels.items() if isinstance(value, str)}


async def node_labels(read: StateReader, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """Node name -> labels of each distinct, non-empty name that could be read.

    Gone nodes and nodes that cannot be read are left out (never raises a ``KubeError``).
    """
    wanted = list(dict.fromkeys(name for name in names if name))
    results = await asyncio.gather(*(_labels(read, name) for name in wanted))
    found: dict[str, dict[str, str]] = {}
    forbidden: list[str] = []
    failed: list[tuple[str, KubeError]] = []
    for name, result in zip(wanted, results, strict=True):
        if isinstance(result, dict):
            found[name] = result
        elif isinstance(result, KubeError):
            if result.status == 403:
                forbidden.append(name)
            else:
                failed.append((name, result))
    if forbidden:
        level = logging.WARNING if _first_forbidden(read) else logging.DEBUG
        log.log(
            level,
            "cannot read nodes (403 Forbidden for %d node(s), e.g. %s): the CloneSet worker needs "
            "`get` on `nodes` (chart value workers.cloneset.rules) to rank scale-in victims by "
            "topologySpreadConstraints; ranking without node labels meanwhile (warned once)",
            len(forbidden),
            forbidden[0],
        )
    if failed:
        name, err = failed[0]
        log.warning(
            "cannot read %d node(s) for topology ranking, left out (as kruise does): %s: %s",
            len(failed),
            name,
            err,
        )
    return found
