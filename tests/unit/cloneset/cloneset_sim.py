"""A tiny simulated cluster for CloneSet planner convergence tests.

It applies a plan the way the API server would (strategic-merge patches of pods: labels and
annotations merged with null deleting, conditions merged by type keeping the fields a patch
leaves out, containers merged by name), then plays the kubelet as the test control plane's kwok
does (pods scheduled and Running, a changed image restarted with a new imageID, Ready when every
readiness gate is True). Used by ``test_cloneset_converge.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.kruise.cloneset import CloneSet
from workers.cloneset import actions as a
from workers.cloneset.config import PlannerConfig
from workers.cloneset.observed import ObservedCloneSet
from workers.cloneset.planner import plan
from workers.podmechanics.kube_json import format_time


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def _merge_list(items: list[dict[str, Any]], patch: list[dict[str, Any]], key: str) -> None:
    for entry in patch:
        found = next((i for i in items if i.get(key) == entry.get(key)), None)
        if entry.get("$patch") == "delete":
            if found is not None:
                items.remove(found)
            continue
        if found is None:
            items.append({k: v for k, v in entry.items() if v is not None})
        else:
            _merge_map(found, entry)


def strategic_merge(pod: dict[str, Any], patch: dict[str, Any]) -> None:
    meta, spec, status = patch.get("metadata", {}), patch.get("spec", {}), patch.get("status", {})
    for part in ("labels", "annotations"):
        if part in meta:
            _merge_map(pod["metadata"].setdefault(part, {}), meta[part])
    if "finalizers" in meta:
        held = pod["metadata"].setdefault("finalizers", [])
        held.extend(f for f in meta["finalizers"] if f not in held)
    if "ownerReferences" in meta:
        _merge_list(pod["metadata"].setdefault("ownerReferences", []), meta["ownerReferences"], "uid")
    if "containers" in spec:
        _merge_list(pod["spec"]["containers"], spec["containers"], "name")
    if "conditions" in status:
        _merge_list(pod["status"].setdefault("conditions", []), status["conditions"], "type")


@dataclass
class Cluster:
    cloneset: CloneSet
    now: datetime
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    pvcs: dict[str, dict[str, Any]] = field(default_factory=dict)
    revisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    counter: int = 0
    actors: list[Callable[[Cluster], None]] = field(default_factory=list)
    """Other controllers (e.g. a lifecycle-hook handler), run after the kubelet each pass."""

    def _version(self) -> str:
        self.counter += 1
        return str(self.counter)

    def step(self, config: PlannerConfig | None = None) -> a.Plan:
        observed = ObservedCloneSet.of(
            self.cloneset, self.pods.values(), self.pvcs.values(), self.revisions.values(), self.counter
        )
        result = plan(observed, config or PlannerConfig(), self.now)
        for action in result.actions:
            self.apply(action)
        self.kubelet()
        for actor in self.actors:
            actor(self)
        self.now += timedelta(seconds=10)
        return result

    def apply(self, action: a.Action) -> None:
        match action:
            case a.CreateRevision(revision):
                rev = copy.deepcopy(dict(revision))
                rev["metadata"]["creationTimestamp"] = format_time(self.now)
                self.revisions[rev["metadata"]["name"]] = rev
            case a.RenumberRevision(name, number):
                self.revisions[name]["revision"] = number
            case a.DeleteRevision(name):
                del self.revisions[name]
            case a.CreatePods(batch):
                for new in batch:
                    for claim in new.claims:
                        self.pvcs[claim["metadata"]["name"]] = copy.deepcopy(dict(claim))  # type: ignore[index]
                    pod = copy.deepcopy(dict(new.pod))
                    name = pod["metadata"]["name"]
                    assert name not in self.pods, f"created {name} twice"
                    pod["metadata"].update(
                        uid=f"uid-{name}-{self.counter}",
                        resourceVersion=self._version(),
                        creationTimestamp=format_time(self.now),
                    )
                    pod["status"] = {"phase": "Pending", "conditions": []}
                    self.pods[name] = pod
            case a.DeletePod(name, uid, claims, _, _):
                assert self.pods[name]["metadata"]["uid"] == uid
                del self.pods[name]
                for claim in claims:
                    self.pvcs.pop(claim, None)
            case a.PatchPod(name, patch, _, _, rv, _, _):
                pod = self.pods[name]
                assert rv is None or rv == pod["metadata"]["resourceVersion"], "stale write"
                strategic_merge(pod, copy.deepcopy(dict(patch)))
                pod["metadata"]["resourceVersion"] = self._version()
            case a.DeleteClaim(name, _, _):
                self.pvcs.pop(name, None)
            case a.PatchCloneSet(patch, _):
                wire = self.cloneset.to_wire()
                pods_to_delete = patch["spec"]["scaleStrategy"]["podsToDelete"]  # type: ignore[index]
                wire["spec"]["scaleStrategy"]["podsToDelete"] = pods_to_delete
                self.cloneset = CloneSet.from_wire(wire)
            case a.UpdateStatus(status):
                wire = self.cloneset.to_wire()
                wire["status"] = copy.deepcopy(dict(status))
                self.cloneset = CloneSet.from_wire(wire)
            case _:
                pass

    def kubelet(self) -> None:
        """kwok's part: schedule, run, restart changed images, Ready follows the readiness gates."""
        stamp = format_time(self.now)
        for pod in self.pods.values():
            pod["spec"]["nodeName"] = "node-1"
            status = pod["status"]
            status["phase"] = "Running"
            conditions = status.setdefault("conditions", [])
            _merge_list(conditions, [{"type": "PodScheduled", "status": "True"}], "type")
            old = {c["name"]: c for c in status.get("containerStatuses", [])}
            statuses = []
            for container in pod["spec"]["containers"]:
                image = container["image"]
                previous = old.get(container["name"])
                restarts = previous["restartCount"] + (previous["image"] != image) if previous else 0
                statuses.append(
                    {
                        "name": container["name"],
                        "image": image,
                        "imageID": f"sim://{image}",
                        "restartCount": restarts,
                    }
                )
            status["containerStatuses"] = statuses
            gates = [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]
            by_type = {c["type"]: c for c in conditions}
            ready = all(by_type.get(g, {}).get("status") == "True" for g in gates)
            ready_status = "True" if ready else "False"
            current = by_type.get("Ready")
            if current is None or current.get("status") != ready_status:
                _merge_list(
                    conditions,
                    [{"type": "Ready", "status": ready_status, "lastTransitionTime": stamp}],
                    "type",
                )
            _merge_list(conditions, [{"type": "ContainersReady", "status": "True"}], "type")

    def run(self, passes: int = 80, config: PlannerConfig | None = None) -> int:
        """Plan and apply until a pass plans nothing; the number of passes it took."""
        for number in range(1, passes + 1):
            if not self.step(config).actions:
                return number
        raise AssertionError(f"no convergence in {passes} passes; pods: {sorted(self.pods)}")
