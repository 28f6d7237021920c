"""Micro benchmark of the CloneSet planner: median ``plan()`` wall time and CPU per scenario.

``.venv/bin/python -m benchmarks.cloneset_plan [--sizes 100,1000,3000] [--repeats 5]
[--rounds 2] [--baseline REV] [--candidate REV]`` builds ObservedCloneSet inputs in memory
(no cluster) for four scenarios (``steady``: all pods Ready and updated; ``scale-up``: half the
pods exist, some still starting; ``in-place``: an InPlaceIfPossible rollout half done,
maxUnavailable 20%; ``recreate``: the same with ReCreate) and times ``plan`` on each.

Each side runs in its own subprocess. The candidate is the working tree unless ``--candidate``
names a revision; with ``--baseline`` the baseline revision's ``workers/cloneset`` (and
``workers/podmechanics``, where it has one) is extracted (``git archive``) into a temporary
directory and put in front of the ``workers`` package path of its subprocess, so the rest of the
tree (``schemas``, ``workers.runtime``) is shared. Sides alternate per round (order flipped each
round) and the table reports medians over every sample, with baseline / candidate ratios. The
builders below use only ``workers.cloneset`` APIs both sides have (``ObservedCloneSet.of``,
``new_revision``, ``plan``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("steady", "scale-up", "in-place", "recreate")
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
UID = "cs-uid"
LABELS = {"app": "web"}
NODES = 50

Samples = dict[str, dict[str, list[float]]]
"""scenario/N -> {"wall": [...], "cpu": [...]} (seconds per plan)."""


# -- inputs (run inside a side's subprocess, against that side's workers.cloneset) ---------------


def _stamp(seconds_ago: int) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cloneset(replicas: int, image: str, strategy: Mapping[str, Any], status: Mapping[str, Any]) -> Any:
    from schemas.kruise.cloneset import CloneSet

    return CloneSet.from_wire(
        {
            "apiVersion": "apps.kruise.io/v1alpha1",
            "kind": "CloneSet",
            "metadata": {
                "name": "web",
                "namespace": "bench",
                "uid": UID,
                "generation": 2,
                "resourceVersion": "9",
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(LABELS)},
                "template": {
                    "metadata": {"labels": dict(LABELS)},
                    "spec": {"containers": [{"name": "app", "image": image}]},
                },
                "updateStrategy": dict(strategy),
                "scaleStrategy": {},
            },
            "status": dict(status),
        }
    )


def _revision(cs: Any, number: int) -> dict[str, Any]:
    # a baseline from before the shared pod mechanics has it in workers.cloneset.revisions
    history = "workers.cloneset.history"
    module = history if importlib.util.find_spec(history) is not None else "workers.cloneset.revisions"
    rev: dict[str, Any] = importlib.import_module(module).new_revision(cs, number, 0)
    rev["metadata"]["creationTimestamp"] = _stamp(7200 - number)
    rev["metadata"]["uid"] = f"rev-uid-{number}"
    return rev


def _pod(
    index: int,
    rev: str,
    image: str,
    *,
    ready: bool = True,
    state: str = "Normal",
    scheduled: bool = True,
    updating: bool = False,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A pod as the API server returns it for a CloneSet (kruise's labels, gates, conditions)."""
    name = f"web-{index:05d}"
    ready_text = "True" if ready else "False"
    conditions = [
        {"type": "KruisePodReady", "status": "True", "lastTransitionTime": _stamp(3600)},
        {
            "type": "InPlaceUpdateReady",
            "status": "False" if updating else "True",
            "lastTransitionTime": _stamp(3600),
        },
        {"type": "Initialized", "status": "True", "lastTransitionTime": _stamp(3700)},
        {"type": "Ready", "status": ready_text, "lastTransitionTime": _stamp(600 + index % 600)},
        {"type": "ContainersReady", "status": ready_text, "lastTransitionTime": _stamp(600 + index % 600)},
        {
            "type": "PodScheduled",
            "status": "True" if scheduled else "False",
            "lastTransitionTime": _stamp(3700),
        },
    ]
    annotations = {"lifecycle.apps.kruise.io/timestamp": _stamp(3600)}
    if updating:
        annotations["apps.kruise.io/inplace-update-state"] = orjson.dumps(
            {
                "revision": rev,
                "updateTimestamp": _stamp(5),
                "lastContainerStatuses": {"app": {"imageID": "sha-old"}},
                "updateImages": True,
            }
        ).decode()
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "bench",
            "uid": f"uid-{name}",
            "resourceVersion": str(1000 + index),
            "creationTimestamp": _stamp(3700 + index % 100),
            "labels": {
                **LABELS,
                "controller-revision-hash": rev,
                "pod-template-hash": rev.rsplit("-", 1)[-1],
                "apps.kruise.io/cloneset-instance-id": f"{index:05d}",
                "lifecycle.apps.kruise.io/state": state,
                **(labels or {}),
            },
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "apps.kruise.io/v1alpha1",
                    "kind": "CloneSet",
                    "name": "web",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "nodeName": f"node-{index % NODES}" if scheduled else "",
            "containers": [{"name": "app", "image": image, "resources": {}}],
            "readinessGates": [{"conditionType": "InPlaceUpdateReady"}, {"conditionType": "KruisePodReady"}],
            "restartPolicy": "Always",
        },
        "status": {
            "phase": "Running" if scheduled else "Pending",
            "conditions": conditions,
            "hostIP": "10.0.0.1",
            "podIP": f"10.1.{index // 250}.{index % 250}",
            "startTime": _stamp(3650),
            "containerStatuses": [
                {
                    "name": "app",
                    "image": "nginx:1" if updating else image,
                    "imageID": "sha-old" if updating else f"sha-{image}",
                    "ready": ready,
                    "restartCount": index % 3,
                    "started": ready,
                    "state": {"running": {"startedAt": _stamp(3650)}},
                }
            ],
        },
    }


def build(scenario: str, size: int) -> tuple[Any, Any]:
    """(observed, config) for one scenario with ``size`` pods wanted."""
    from workers.cloneset.config import PlannerConfig
    from workers.cloneset.observed import ObservedCloneSet

    half = size // 2
    if scenario in ("steady", "scale-up"):
        cs = _cloneset(size, "nginx:1", {}, {})
        rev = _revision(cs, 1)
        name = rev["metadata"]["name"]
        if scenario == "steady":
            pods = [_pod(i, name, "nginx:1") for i in range(size)]
        else:
            starting = size // 10
            pods = [_pod(i, name, "nginx:1") for i in range(half - starting)]
            pods += [
                _pod(i, name, "nginx:1", ready=False, state="PreparingNormal", scheduled=i % 2 == 0)
                for i in range(half - starting, half)
            ]
        status = {"currentRevision": name, "updateRevision": name, "observedGeneration": 2}
        cs = _cloneset(size, "nginx:1", {}, status)
        revisions = [rev]
    else:
        strategy = {
            "type": "InPlaceIfPossible" if scenario == "in-place" else "ReCreate",
            "maxUnavailable": "20%",
        }
        old_cs = _cloneset(size, "nginx:1", strategy, {})
        new_cs = _cloneset(size, "nginx:2", strategy, {})
        old, new = _revision(old_cs, 1), _revision(new_cs, 2)
        old_name, new_name = old["metadata"]["name"], new["metadata"]["name"]
        in_flight = size // 10
        pods = [_pod(i, new_name, "nginx:2") for i in range(half - in_flight)]
        if scenario == "in-place":
            pods += [
                _pod(i, new_name, "nginx:2", ready=False, state="Updating", updating=True)
                for i in range(half - in_flight, half)
            ]
        else:
            pods += [_pod(i, new_name, "nginx:2", ready=False) for i in range(half - in_flight, half)]
        pods += [_pod(i, old_name, "nginx:1") for i in range(half, size)]
        status = {"currentRevision": old_name, "updateRevision": new_name, "observedGeneration": 2}
        cs = _cloneset(size, "nginx:2", strategy, status)
        revisions = [old, new]
    observed = ObservedCloneSet.of(cs, pods, (), revisions, name_seed=7)
    if scenario == "steady":  # status as the last pass wrote it: nothing to do
        observed = ObservedCloneSet.of(_in_sync(cs, observed), pods, (), revisions, name_seed=7)
    return observed, PlannerConfig()


def _in_sync(cs: Any, observed: Any) -> Any:
    from schemas.kruise.cloneset import CloneSet
    from workers.cloneset.actions import UpdateStatus
    from workers.cloneset.config import PlannerConfig
    from workers.cloneset.planner import plan

    status = next(
        a.status for a in plan(observed, PlannerConfig(), NOW).actions if isinstance(a, UpdateStatus)
    )
    return CloneSet.from_wire({**cs.to_wire(), "status": status})


def _measure(scenario: str, size: int, repeats: int) -> dict[str, list[float]]:
    from workers.cloneset.planner import plan

    observed, config = build(scenario, size)
    plan(observed, config, NOW)  # warm-up (imports, caches)
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(repeats):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        plan(observed, config, NOW)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"wall": wall, "cpu": cpu}


def _child(source: str | None, sizes: Sequence[int], repeats: int) -> None:
    """Time every scenario against the ``workers.cloneset`` under ``source`` (or this tree)."""
    if source is not None:
        import workers

        workers.__path__.insert(0, str(Path(source) / "workers"))
    samples = {f"{s}/{n}": _measure(s, n, repeats) for n in sizes for s in SCENARIOS}
    sys.stdout.write(orjson.dumps(samples).decode())


# -- the side-by-side driver -----------------------------------------------------------------------


def _extract(rev: str, into: Path) -> None:
    """``workers/cloneset`` (and ``workers/podmechanics`` where ``rev`` has one) as of ``rev``."""
    paths = ["workers/cloneset"]
    shared = subprocess.run(["git", "cat-file", "-e", f"{rev}:workers/podmechanics"], cwd=REPO, check=False)
    if shared.returncode == 0:
        paths.append("workers/podmechanics")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, *paths], cwd=REPO, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def _run_side(source: str | None, sizes: Sequence[int], repeats: int) -> Samples:
    command = [
        sys.executable,
        "-m",
        "benchmarks.cloneset_plan",
        "--child",
        "--sizes",
        ",".join(map(str, sizes)),
    ]
    command += ["--repeats", str(repeats)]
    if source is not None:
        command += ["--source", source]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
    loaded: Samples = orjson.loads(done.stdout)
    return loaded


def _merge(into: Samples, more: Samples) -> None:
    for key, values in more.items():
        slot = into.setdefault(key, {"wall": [], "cpu": []})
        slot["wall"] += values["wall"]
        slot["cpu"] += values["cpu"]


def _ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def render(sides: Mapping[str, Samples], labels: Mapping[str, str]) -> str:
    """A markdown table: medians per scenario and side, and baseline / candidate ratios."""
    names = list(sides)
    header = ["scenario", "pods"]
    for side in names:
        header += [f"{labels[side]} wall ms", f"{labels[side]} CPU ms"]
    if len(names) == 2:
        header += ["wall ratio", "CPU ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in sides[names[0]]:
        scenario, size = key.split("/")
        row = [scenario, size]
        medians: list[tuple[float, float]] = []
        for side in names:
            wall = statistics.median(sides[side][key]["wall"])
            cpu = statistics.median(sides[side][key]["cpu"])
            medians.append((wall, cpu))
            row += [_ms(wall), _ms(cpu)]
        if len(names) == 2:
            (bw, bc), (cw, cc) = medians
            row += [f"{bw / cw:.2f}x", f"{bc / cc:.2f}x"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--repeats", type=int, default=5, help="timed plans per scenario per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two sides")
    parser.add_argument("--baseline", help="git revision to compare against (e.g. HEAD~3)")
    parser.add_argument("--candidate", help="git revision to measure (default: the working tree)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.child:
        _child(args.source, sizes, args.repeats)
        return

    with tempfile.TemporaryDirectory(prefix="cloneset-plan-") as tmp:
        sources: dict[str, str | None] = {}
        labels: dict[str, str] = {}
        for role, rev in (("baseline", args.baseline), ("candidate", args.candidate)):
            if role == "baseline" and rev is None:
                continue
            if rev is None:
                sources[role], labels[role] = None, "tree"
                continue
            into = Path(tmp) / role
            _extract(rev, into)
            sources[role], labels[role] = str(into), rev
        sides: dict[str, Samples] = {role: {} for role in sources}
        order = list(sources)
        for round_number in range(args.rounds):
            for role in order if round_number % 2 == 0 else reversed(order):
                started = time.perf_counter()
                _merge(sides[role], _run_side(sources[role], sizes, args.repeats))
                took = time.perf_counter() - started
                print(f"round {round_number + 1}: {role} ({labels[role]}) {took:.0f} s", file=sys.stderr)
    print(render(sides, labels))


if __name__ == "__main__":
    main()
