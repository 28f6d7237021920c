"""Where a roll's time goes, pod by pod and CloneSet by CloneSet (issue 16's roll profile).

`StageTracker` is the cluster-scale benchmark's `CountingTracker` that, while a roll runs, also
puts every pod in one stage of kruise's in-place protocol, from its own watch events:

- ``queued``: still on the old image, its update not started;
- ``started``: ``InPlaceUpdateReady`` False written, the image patch not yet;
- ``kwok-swap``: the spec asks for the new image, the fake kubelet has not run it yet;
- ``refresh``: the new image runs, ``InPlaceUpdateReady`` not True yet (the worker's write);
- ``kwok-ready``: the condition is True, the pod not Ready yet (the fake kubelet's write);
- ``done``: Ready on the new image;

and every CloneSet in one of ``waiting`` (not done, none of its pods between ``started`` and
``kwok-ready``: it waits for a reconcile to start its next batch), ``in-flight`` or ``done``.
It integrates pod-seconds and CloneSet-seconds per stage exactly at each event, so
`profile` says, per rolled pod and per CloneSet, how long each stage held it (Little's law),
and keeps a coarse time series. Pure bookkeeping on the tracker's events; used by
``benchmarks/scale_profile.py``.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.scale_pods import CountingTracker
from flotilla.runtime.kube import KubeClient

POD_STAGES = ("queued", "started", "kwok-swap", "refresh", "kwok-ready", "done")
IN_FLIGHT = frozenset(("started", "kwok-swap", "refresh", "kwok-ready"))
CLONESET_STATES = ("waiting", "in-flight", "done")
IN_PLACE_READY = "InPlaceUpdateReady"


@dataclass(frozen=True)
class PodFacts:
    """What the stages are read from."""

    owner: str
    spec_image: str
    running_image: str | None
    in_place_ready: str | None
    ready: bool
    deleting: bool

    @classmethod
    def of(cls, pod: Mapping[str, Any], owner_label: str) -> PodFacts:
        metadata = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        containers = spec.get("containers") or [{}]
        statuses = status.get("containerStatuses") or []
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        return cls(
            owner=str((metadata.get("labels") or {}).get(owner_label, "")),
            spec_image=str(containers[0].get("image", "")),
            running_image=statuses[0].get("image") if statuses else None,
            in_place_ready=conditions.get(IN_PLACE_READY),
            ready=conditions.get("Ready") == "True",
            deleting=metadata.get("deletionTimestamp") is not None,
        )


def pod_stage(facts: PodFacts, image: str) -> str:
    """The stage of a pod in a roll to ``image``."""
    if facts.spec_image != image:
        return "started" if facts.in_place_ready == "False" else "queued"
    if facts.running_image != image:
        return "kwok-swap"
    if facts.in_place_ready != "True":
        return "refresh"
    return "done" if facts.ready else "kwok-ready"


def cloneset_state(stages: Counter[str]) -> str:
    if any(stages[s] for s in IN_FLIGHT):
        return "in-flight"
    if stages["queued"]:
        return "waiting"
    return "done"


class StageTracker(CountingTracker):
    """A `CountingTracker` that, between `begin` and `end`, integrates time per pod stage and
    per CloneSet state."""

    def __init__(self, client: KubeClient, namespace: str, selector: str, owner_label: str = "app") -> None:
        super().__init__(client, namespace, selector)
        self.owner_label = owner_label
        self.facts: dict[str, PodFacts] = {}
        self.image: str | None = None
        self._stage: dict[str, str] = {}
        self._by_owner: dict[str, Counter[str]] = {}
        self._state: dict[str, str] = {}
        self.pod_counts: Counter[str] = Counter()
        self.set_counts: Counter[str] = Counter()
        self.pod_seconds: defaultdict[str, float] = defaultdict(float)
        self.set_seconds: defaultdict[str, float] = defaultdict(float)
        self.series: list[dict[str, Any]] = []
        self._last = 0.0
        self._started = 0.0

    def _apply(self, kind: str, pod: Mapping[str, Any]) -> None:
        super()._apply(kind, pod)
        name = str(pod["metadata"]["name"])
        self._advance(time.monotonic())
        self._forget(name)
        if kind == "DELETED":
            self.facts.pop(name, None)
            return
        facts = PodFacts.of(pod, self.owner_label)
        self.facts[name] = facts
        self._place(name, facts)

    # ------------------------------------------------------------------ the roll
    def begin(self, image: str) -> None:
        """Start integrating a roll to ``image`` (every pod placed afresh)."""
        self.image = image
        self._stage, self._by_owner, self._state = {}, {}, {}
        self.pod_counts, self.set_counts = Counter(), Counter()
        self.pod_seconds, self.set_seconds = defaultdict(float), defaultdict(float)
        self.series = []
        self._started = self._last = time.monotonic()
        for name, facts in self.facts.items():
            self._place(name, facts)

    def end(self) -> dict[str, Any]:
        """Stop integrating; the profile of the roll."""
        self._advance(time.monotonic())
        self.image = None
        return self.profile()

    def sample(self) -> None:
        """One point of the time series (called every few seconds by the runner)."""
        if self.image is None:
            return
        self._advance(time.monotonic())
        self.series.append(
            {
                "t": round(self._last - self._started, 1),
                "pods": dict(self.pod_counts),
                "clonesets": dict(self.set_counts),
            }
        )

    def profile(self) -> dict[str, Any]:
        pods = max(1, len(self._stage))
        sets = max(1, len(self._by_owner))
        return {
            "pods": len(self._stage),
            "clonesets": len(self._by_owner),
            "seconds": self._last - self._started,
            "pod_seconds_per_pod": {s: self.pod_seconds[s] / pods for s in POD_STAGES},
            "cloneset_seconds_per_cloneset": {s: self.set_seconds[s] / sets for s in CLONESET_STATES},
            "series": self.series,
        }

    # ------------------------------------------------------------------ internals
    def _advance(self, now: float) -> None:
        if self.image is None:
            return
        span = now - self._last
        if span > 0:
            for stage, count in self.pod_counts.items():
                self.pod_seconds[stage] += count * span
            for state, count in self.set_counts.items():
                self.set_seconds[state] += count * span
        self._last = now

    def _forget(self, name: str) -> None:
        stage = self._stage.pop(name, None)
        if stage is None:
            return
        self.pod_counts[stage] -= 1
        owner = self.facts[name].owner
        self._by_owner[owner][stage] -= 1
        self._restate(owner)

    def _place(self, name: str, facts: PodFacts) -> None:
        if self.image is None or facts.deleting:
            return
        stage = pod_stage(facts, self.image)
        self._stage[name] = stage
        self.pod_counts[stage] += 1
        self._by_owner.setdefault(facts.owner, Counter())[stage] += 1
        self._restate(facts.owner)

    def _restate(self, owner: str) -> None:
        state = cloneset_state(self._by_owner[owner])
        old = self._state.get(owner)
        if old != state:
            if old is not None:
                self.set_counts[old] -= 1
            self.set_counts[state] += 1
            self._state[owner] = state
