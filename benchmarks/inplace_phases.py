"""Where an image update's seconds go, pod by pod (``make bench-inplace-real``'s breakdown).

:class:`PhaseTracker` is the benchmark's pod watch (``benchmarks.harness.podwatch.PodTracker``)
that also notes, once :meth:`PhaseTracker.arm` names the run's image (just before the patch that
lets the rollout go), the monotonic time each pod's watch event first showed a step of its update
to that image (:func:`steps_shown`):

- ``patched``: the pod's spec names the image (in place: the controller's pod patch; recreate:
  the new pod's creation);
- ``scheduled``: the pod has a node (in place: already, so at its patch);
- ``started``: the kubelet reports the container running the image (it stopped the old one,
  pulled if it had to, started the new one, its PLEG saw it, its status manager wrote it);
- ``gate``: ``InPlaceUpdateReady`` True while the spec names the image (the controller saw the
  update complete; a new pod gets it at creation);
- ``ready``: ``Ready`` True while running the image (the kubelet saw containers and gates ready).

:func:`phases` turns one run's marks into the median seconds of each hop, per pod, and whose it
is: ``to_patch`` (controller: the slot freed, i.e. another pod turned Ready or the rollout was let
go, -> this pod patched / created), ``to_schedule`` (scheduler), ``to_start`` (kubelet),
``to_gate`` (controller: container running -> gate True; 0 when the gate came first) and
``to_ready`` (kubelet: the later of the two -> Ready), and ``cycle``, their sum per pod: with
``maxUnavailable`` pods in flight the rollout takes about ``pods / maxUnavailable`` cycles. The
times are when this process received the events, so each hop includes the API server's watch
delivery (the same for every hop and controller). Pure apart from the tracker's clock.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.harness.podwatch import PodTracker

STEPS = ("patched", "scheduled", "started", "gate", "ready")
HOPS = ("to_patch", "to_schedule", "to_start", "to_gate", "to_ready", "cycle")
#: Whose time each hop is.
OWNER = {
    "to_patch": "controller",
    "to_schedule": "scheduler",
    "to_start": "kubelet",
    "to_gate": "controller",
    "to_ready": "kubelet",
    "cycle": "all",
}


def _condition(pod: Mapping[str, Any], kind: str) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def steps_shown(pod: Mapping[str, Any], image: str) -> set[str]:
    """The steps of the update to ``image`` that ``pod`` (one watch event's object) shows done."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or [{}]
    if containers[0].get("image") != image:
        return set()
    shown = {"patched"}
    if spec.get("nodeName"):
        shown.add("scheduled")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    running = (
        bool(statuses) and statuses[0].get("image") == image and "running" in (statuses[0].get("state") or {})
    )
    if running:
        shown.add("started")
    if _condition(pod, "InPlaceUpdateReady"):
        shown.add("gate")
    if running and _condition(pod, "Ready"):
        shown.add("ready")
    return shown


@dataclass
class Marks:
    """When one pod's watch events first showed each step (monotonic seconds)."""

    name: str
    times: dict[str, float] = field(default_factory=dict)


class PhaseTracker(PodTracker):
    """A :class:`PodTracker` that marks, per pod uid, when each step of the armed image showed."""

    image: str | None = None
    armed_at: float = 0.0
    marks: dict[str, Marks]

    def arm(self, image: str) -> None:
        """From now on, mark the steps of the update to ``image`` (forgetting earlier marks)."""
        self.image, self.armed_at, self.marks = image, time.monotonic(), {}

    def _apply(self, kind: str, pod: Mapping[str, Any]) -> None:
        super()._apply(kind, pod)
        if self.image is None or kind == "DELETED":
            return
        now = time.monotonic()
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid", ""))
        for step in steps_shown(pod, self.image):
            marks = self.marks.setdefault(uid, Marks(str(metadata.get("name", ""))))
            marks.times.setdefault(step, now)


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(statistics.median(found), 3) if found else None


def phases(marks: Sequence[Marks], armed_at: float) -> dict[str, float | None]:
    """Median seconds of each hop over the pods that went the whole way (see the module doc)."""
    done = [m.times for m in marks if all(s in m.times for s in ("patched", "started", "ready"))]
    readies = sorted(t["ready"] for t in done)
    hops: dict[str, list[float]] = {h: [] for h in HOPS}
    for times in done:
        patched = times["patched"]
        freed = max((r for r in readies if r < patched), default=armed_at)
        scheduled = times.get("scheduled", patched)
        gate = times.get("gate", times["started"])
        values = {
            "to_patch": max(0.0, patched - max(freed, armed_at)),
            "to_schedule": max(0.0, scheduled - patched),
            "to_start": max(0.0, times["started"] - scheduled),
            "to_gate": max(0.0, gate - times["started"]),
            "to_ready": max(0.0, times["ready"] - max(gate, times["started"])),
        }
        values["cycle"] = sum(values.values())
        for hop, value in values.items():
            hops[hop].append(value)
    return {hop: _median(values) for hop, values in hops.items()}


def render_phases(records: Sequence[Mapping[str, Any]], variants: Sequence[str]) -> str:
    """A markdown table: per variant, the median over runs of each hop's per-run median."""
    header = "| variant | " + " | ".join(f"{h} ({OWNER[h]})" for h in HOPS) + " |\n"
    rows = ["|---" * (len(HOPS) + 1) + "|\n"]
    for variant in variants:
        runs = [r["phases"] for r in records if r["variant"] == variant and r.get("phases")]
        cells = []
        for hop in HOPS:
            value = _median(v for run in runs if (v := run.get(hop)) is not None)
            cells.append("-" if value is None else f"{value:.2f}")
        rows.append(f"| {variant} | " + " | ".join(cells) + " |\n")
    return header + "".join(rows)
