"""Following 10,000 pods through one watch without re-scanning them on every event.

`CountingTracker` is the harness's `PodTracker` (one list + watch, relist on 410) that also
keeps running counts, so the cluster-scale benchmark's predicates cost O(1) per watch event:
how many live pods there are and how many are Ready and running each image. `PodTracker`'s own
predicates (`all_updated`, `ready_count`) scan every pod per event, O(N^2) over a 10,000-pod
roll, and would load the shared 2 cores the benchmark is measuring. When the tracker relists
(its pod map is replaced), the counts are taken again from the new map.
Used by ``benchmarks/scale.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from benchmarks.harness.podwatch import PodState, PodTracker
from flotilla.runtime.kube import KubeClient


class CountingTracker(PodTracker):
    """A `PodTracker` with live / Ready-on-image counts kept per event."""

    def __init__(self, client: KubeClient, namespace: str, selector: str) -> None:
        super().__init__(client, namespace, selector)
        self._counted: dict[str, PodState] | None = None
        self.live = 0
        self.ready_on: Counter[str | None] = Counter()

    def _apply(self, kind: str, pod: Mapping[str, Any]) -> None:
        self._recount_if_relisted()
        name = str(pod["metadata"]["name"])
        self._count(self.pods.get(name), -1)
        super()._apply(kind, pod)
        self._count(self.pods.get(name), +1)

    def _recount_if_relisted(self) -> None:
        if self._counted is self.pods:
            return
        self._counted = self.pods
        self.live = 0
        self.ready_on = Counter()
        for state in self.pods.values():
            self._count(state, +1)

    def _count(self, state: PodState | None, sign: int) -> None:
        if state is None or state.deleting:
            return
        self.live += sign
        if state.ready:
            self.ready_on[state.running_image] += sign

    def settled(self, size: int, image: str) -> bool:
        """Exactly ``size`` live pods, every one Ready and running ``image`` (as ``all_updated``)."""
        self._recount_if_relisted()
        return self.live == size and self.ready_on[image] == size

    def updated(self, image: str) -> int:
        """Live pods Ready and running ``image``."""
        self._recount_if_relisted()
        return self.ready_on[image]
