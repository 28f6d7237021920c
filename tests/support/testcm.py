"""The test-only worker type ``testcm``: reconciles plain ConfigMaps so runtime tests need no CRDs.

Run it as ``flotilla worker testcm --plugin tests.support.testcm:WORKER``. A ConfigMap's
``data`` steers it:

* ``desired``: the reconcile copies it to the ``testcm.flotilla.dev/reconciled`` annotation;
* ``requeueAfter``: seconds; the plan asks to be requeued;
* ``fail``: any value makes ``act`` raise (backoff, then dead letter);
* ``terminal``: any value raises TerminalError (dead letter at once);
* ``sleep``: seconds ``act`` sleeps (a long reconcile to kill or stop mid-way);
* ``steps``: ``act`` first writes the ``testcm.flotilla.dev/step`` annotation that many times,
  ``stepGap`` seconds apart (default 0.25), each value ``<pid>/<reconcile id>/<n>``: a reconcile
  that keeps writing, so the API server shows which process wrote when (the write-fence tests).

Instrumented: with ``TESTCM_RECORD_DIR`` set, each reconcile appends ``start`` and ``end``
lines (key, pid, reconcile id, wall-clock time) to ``<dir>/<pid>.jsonl``, so tests can check
that no two reconciles of one key ever overlapped. ``TESTCM_COST`` adds a fixed simulated
cost (seconds) to every reconcile (the scale-out benchmark).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from flotilla.runtime.kube import CONFIGMAPS, KubeClient
from flotilla.runtime.logs import reconcile_id
from schemas.bus.envelope import KeyParts
from workers.runtime.actions import PatchObject, execute_plan
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader

RECONCILED = "testcm.flotilla.dev/reconciled"
STEP = "testcm.flotilla.dev/step"


@dataclass(frozen=True)
class CmSnapshot:
    namespace: str
    name: str
    exists: bool
    desired: str | None = None
    reconciled: str | None = None
    requeue_after: float | None = None
    fail: bool = False
    terminal: bool = False
    sleep: float = 0.0
    steps: int = 0
    step_gap: float = 0.25


@dataclass(frozen=True)
class CmConfig:
    """testcm has no configuration; the type exists to show where a worker's config goes."""


def _record(event: str, key: str, **fields: object) -> None:
    directory = os.environ.get("TESTCM_RECORD_DIR")
    if not directory:
        return
    line = {"event": event, "key": key, "pid": os.getpid(), "rid": reconcile_id.get(), "t": time.time()}
    line.update(fields)
    with (Path(directory) / f"{os.getpid()}.jsonl").open("ab") as out:
        out.write(orjson.dumps(line) + b"\n")


async def observe(read: StateReader, key: KeyParts) -> CmSnapshot:
    name = f"{key.type}/{key.namespace}/{key.name}"
    _record("start", name)
    try:
        obj = await read.get(CONFIGMAPS, key.namespace, key.name)
    except BaseException:
        _record("end", name, outcome="observe_error")
        raise
    if obj is None:
        return CmSnapshot(key.namespace, key.name, exists=False)
    data = obj.get("data") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    requeue = data.get("requeueAfter")
    return CmSnapshot(
        namespace=key.namespace,
        name=key.name,
        exists=True,
        desired=data.get("desired"),
        reconciled=annotations.get(RECONCILED),
        requeue_after=float(requeue) if requeue else None,
        fail="fail" in data,
        terminal="terminal" in data,
        sleep=float(data.get("sleep", "0")),
        steps=int(data.get("steps", "0")),
        step_gap=float(data.get("stepGap", "0.25")),
    )


def plan(snapshot: CmSnapshot, config: CmConfig, now: float) -> Plan:
    if not snapshot.exists:
        return Plan(reason="configmap is gone")
    actions: tuple[PatchObject, ...] = ()
    if snapshot.desired is not None and snapshot.reconciled != snapshot.desired:
        patch = {"metadata": {"annotations": {RECONCILED: snapshot.desired}}}
        actions = (PatchObject(CONFIGMAPS, snapshot.namespace, snapshot.name, patch),)
    return Plan(actions=actions, requeue_after=snapshot.requeue_after, reason=f"desired={snapshot.desired}")


async def act(api: KubeClient, snapshot: CmSnapshot, plan: Plan) -> None:
    key = f"testcm/{snapshot.namespace}/{snapshot.name}"
    outcome = "error"
    _record("act", key)
    try:
        for step in range(snapshot.steps):
            if step:
                await asyncio.sleep(snapshot.step_gap)
            value = f"{os.getpid()}/{reconcile_id.get()}/{step}"
            patch = {"metadata": {"annotations": {STEP: value}}}
            await api.patch(
                CONFIGMAPS.path(snapshot.namespace, snapshot.name), patch, "merge", "flotilla-testcm"
            )
        cost = snapshot.sleep + float(os.environ.get("TESTCM_COST", "0"))
        if cost:
            await asyncio.sleep(cost)
        if snapshot.terminal:
            raise TerminalError("testcm: data.terminal is set; remove it to reconcile")
        if snapshot.fail:
            raise RuntimeError("testcm: data.fail is set")
        await execute_plan(api, plan.actions, "flotilla-testcm")
        outcome = "ok"
    finally:
        _record("end", key, desired=snapshot.desired, outcome=outcome)


WORKER: WorkerType[CmSnapshot, CmConfig] = WorkerType(
    name="testcm",
    kind="ConfigMap",
    resource=CONFIGMAPS,
    observe=observe,
    plan=plan,
    config=CmConfig(),
    act=act,
    has_status=False,
)
