"""Re-record the golden data of kruise-manager: `python -m tests.golden.kruise.record`.

Starts the conformance control plane with kruise-manager v1.9.1 (as `make conformance
BASELINE=kruise` does), applies each CloneSet of `templates.py`, waits until kruise reports
it ready, rolls its images (`update`) and waits again, then writes
``cloneset/<name>.json``: the CloneSet as submitted and as stored (kruise's defaults), the
ControllerRevisions kruise wrote (name, labels, data, revision), the revision labels of the
pods at each step, and the status kruise reported (condition times left out). Needs the
kruise build (`flotilla dev tools kruise-manager`); takes about two minutes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from flotilla.conformance import kruise_manager
from flotilla.conformance.run import cluster_config
from flotilla.conformance.specs import kruise_source
from flotilla.devcluster import versions
from flotilla.devcluster.env import DevEnvironment, new_run_dir
from flotilla.devcluster.toolchain import ensure_binaries
from tests.golden.kruise.templates import NAMESPACE, TEMPLATES

OUT = Path(__file__).resolve().parent / "cloneset"
POD_LABELS = ("controller-revision-hash", "pod-template-hash", "apps.kruise.io/cloneset-instance-id")


def _get(env: DevEnvironment, *args: str) -> Any:
    return json.loads(env.kubectl("get", "-n", NAMESPACE, "-o", "json", *args).stdout)


def _status(cloneset: dict[str, Any]) -> dict[str, Any]:
    status = dict(cloneset.get("status") or {})
    status["conditions"] = [
        {k: v for k, v in c.items() if k not in ("lastTransitionTime", "lastUpdateTime")}
        for c in status.get("conditions") or []
    ]
    return status


def _wait_rolled(env: DevEnvironment, name: str, replicas: int, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    cloneset: dict[str, Any] = {}
    while time.monotonic() < deadline:
        cloneset = _get(env, "cloneset", name)
        status = cloneset.get("status") or {}
        if (
            status.get("observedGeneration") == cloneset["metadata"]["generation"]
            and status.get("updatedReadyReplicas") == replicas
            and status.get("availableReplicas") == replicas
            and status.get("replicas") == replicas
            and status.get("currentRevision") == status.get("updateRevision")
        ):
            return cloneset
        time.sleep(2)
    raise RuntimeError(
        f"CloneSet {name} was not rolled out by kruise within {timeout}s: {cloneset.get('status')}"
    )


def _revisions(env: DevEnvironment, name: str, uid: str) -> list[dict[str, Any]]:
    revisions = _get(env, "controllerrevisions")["items"]
    owned = [
        r
        for r in revisions
        if any(ref.get("uid") == uid for ref in r["metadata"].get("ownerReferences") or [])
    ]
    return [
        {
            "name": r["metadata"]["name"],
            "labels": r["metadata"].get("labels", {}),
            "annotations": r["metadata"].get("annotations", {}),
            "revision": r["revision"],
            "data": r["data"],
        }
        for r in sorted(owned, key=lambda r: int(r["revision"]))
    ]


def record_one(
    env: DevEnvironment, name: str, cloneset: dict[str, Any], update: dict[str, str]
) -> dict[str, Any]:
    submitted = json.loads(json.dumps(cloneset))
    env.kubectl("create", "-f", "-", input=json.dumps(submitted))
    replicas = int(submitted["spec"]["replicas"])
    first = _snapshot_with_pods(env, _wait_rolled(env, name, replicas))
    stored = _get(env, "cloneset", name)
    for container in stored["spec"]["template"]["spec"]["containers"]:
        container["image"] = update.get(container["name"], container["image"])
    env.kubectl("replace", "-f", "-", input=json.dumps(stored))
    rolled = _wait_rolled(env, name, replicas)
    second = _snapshot_with_pods(env, rolled)
    return {
        "kruise": versions.KRUISE,
        "feature_gates": next(
            f for f in kruise_manager.MANAGER_FLAGS if f.startswith("--feature-gates=")
        ).split("=", 1)[1],
        "submitted": submitted,
        "created": first,
        "updated": second,
        "revisions": _revisions(env, name, rolled["metadata"]["uid"]),
    }


def _snapshot_with_pods(env: DevEnvironment, cloneset: dict[str, Any]) -> dict[str, Any]:
    selector = ",".join(f"{k}={v}" for k, v in cloneset["spec"]["selector"]["matchLabels"].items())
    pods = _get(env, "pods", "-l", selector)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return {
        "stored": {k: cloneset[k] for k in ("metadata", "spec")},
        "status": _status(cloneset),
        "pods": sorted(
            ({k: p["metadata"]["labels"].get(k, "") for k in POD_LABELS} for p in live),
            key=lambda labels: labels["apps.kruise.io/cloneset-instance-id"],
        ),
    }


def main() -> int:
    binaries = ensure_binaries(["kruise-manager"])
    run_dir = new_run_dir("golden-kruise")
    env = DevEnvironment.start_local(cluster_config(run_dir))
    try:
        kruise_manager.start(env, binaries["kruise-manager"], kruise_source())
        env.kubectl("create", "namespace", NAMESPACE)
        OUT.mkdir(exist_ok=True)
        for name, (cloneset, update) in TEMPLATES.items():
            recorded = record_one(env, name, cloneset, update)
            path = OUT / f"{name}.json"
            path.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
            print(f"recorded {path} ({len(recorded['revisions'])} revisions)", file=sys.stderr)
    finally:
        env.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
