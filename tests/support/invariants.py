"""What must hold for CloneSets under faults, checked from the API server's own records.

One checker for the CloneSet fault tests (tests/faults/test_cloneset_faults.py) and the soak
(:mod:`tests.support.soak`):

* :class:`Ledger` (pure) is fed every CloneSet and pod watch event of a namespace in
  resourceVersion order (etcd's one global order, so a spec change and the pods it causes are
  seen in the order they happened) and records violations as they happen: a pod created without
  a CloneSet controller reference or for another CloneSet uid (orphan), or a CloneSet with more
  live (not terminating) pods than ``replicas + maxSurge``. While a CloneSet converges after a
  spec change, the bound uses the largest replicas and maxSurge since it last settled (a
  scale-down removes pods over time). It also counts every pod ever created, by CloneSet and
  image.
* :class:`NamespaceWatch` runs the two watches (with bookmarks, resumed from the last
  resourceVersion across API server and etcd restarts) and feeds the ledger in order.
* :func:`audit_overlaps` reads the API server's audit log (flotilla/devcluster/cluster.py): each
  write of a worker carries ``<holder> reconcile/<id>`` in its User-Agent (flotilla/runtime/kube.py;
  the holder is host-pid, one per process). Only writes the server accepted (2xx) count, at their
  commit-side time; per CloneSet, the span of each reconcile's commits (first -> last) must not
  meet a span of another process: no key written by two processes at once. :class:`AuditLog`
  reads it incrementally (the soak checks every 30 s).
* :func:`dead_letters` counts what the bus parked for the namespace (stream, metric, condition).
* :func:`recreate_cloneset` is the CloneSet both roll: one container, ReCreate updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from flotilla.runtime.errors import Gone, KubeError
from flotilla.runtime.kube import PODS, JsonObject, KubeClient
from schemas.bus.streams import DEADLETTER_STREAM
from workers.cloneset.lowering import CLONESETS

WORKER_AGENT = "flotilla-worker-cloneset/"


def surge_of(spec: JsonObject) -> int:
    """maxSurge as a pod count (int, or percent of replicas rounded up, as kruise resolves it)."""
    replicas = int(spec.get("replicas", 1))
    value = (spec.get("updateStrategy") or {}).get("maxSurge", 0)
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value or 0)


def settled(obj: JsonObject) -> bool:
    """The CloneSet's status shows its current spec done: replicas pods, all ready, at least
    ``replicas - partition`` of them updated."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    return (
        status.get("observedGeneration") == obj["metadata"].get("generation")
        and status.get("replicas") == replicas
        and status.get("readyReplicas") == replicas
        # a partition keeps at most that many pods on the old revision; pods already updated
        # (the image changed back, or a partition raised afterwards) are not rolled back
        and int(status.get("updatedReplicas", 0)) >= replicas - _partitioned(spec)
    )


def _partitioned(spec: JsonObject) -> int:
    partition = (spec.get("updateStrategy") or {}).get("partition", 0) or 0
    replicas = int(spec.get("replicas", 1))
    if isinstance(partition, str) and partition.endswith("%"):
        return min(replicas, math.ceil(replicas * int(partition[:-1]) / 100))
    return min(replicas, int(partition))


@dataclass
class _CloneSet:
    uid: str
    bound_replicas: int
    bound_surge: int


@dataclass
class Ledger:
    """Every CloneSet and pod event of one namespace, in resourceVersion order; violations as seen."""

    clonesets: dict[str, _CloneSet] = field(default_factory=dict)
    live: dict[str, str] = field(default_factory=dict)  # pod uid -> CloneSet name
    seen: set[str] = field(default_factory=set)  # every pod uid ever seen
    created: Counter[tuple[str, str]] = field(default_factory=Counter)  # (CloneSet, image) -> pods
    peak: Counter[str] = field(default_factory=Counter)  # most live pods seen, per CloneSet
    violations: list[str] = field(default_factory=list)
    checks: int = 0
    last_rv: int = 0

    def cloneset(self, kind: str, obj: JsonObject) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        name = meta["name"]
        if kind == "DELETED":
            self.clonesets.pop(name, None)
            return
        replicas, surge = int(spec.get("replicas", 1)), surge_of(spec)
        known = self.clonesets.get(name)
        if known is None or known.uid != meta["uid"] or settled(obj):
            self.clonesets[name] = _CloneSet(meta["uid"], replicas, surge)
        else:
            known.bound_replicas = max(known.bound_replicas, replicas)
            known.bound_surge = max(known.bound_surge, surge)

    def pod(self, kind: str, obj: JsonObject) -> None:
        meta = obj["metadata"]
        uid, name = meta["uid"], meta["name"]
        owner = next((o for o in meta.get("ownerReferences") or () if o.get("controller")), None)
        if uid not in self.seen:
            self.seen.add(uid)
            if kind != "DELETED":
                image = obj["spec"]["containers"][0]["image"]
                self.created[(owner["name"] if owner else "", image)] += 1
            self.checks += 1
            if owner is None or owner.get("kind") != "CloneSet":
                self.violations.append(f"pod {name} created without a CloneSet controller (orphan)")
            elif (cs := self.clonesets.get(owner["name"])) is None or cs.uid != owner.get("uid"):
                self.violations.append(
                    f"pod {name} created for CloneSet {owner['name']} uid {owner.get('uid')}"
                )
        if kind == "DELETED" or meta.get("deletionTimestamp"):
            self.live.pop(uid, None)
            return
        if owner is None:
            return
        self.live[uid] = owner["name"]
        self.checks += 1
        count = sum(1 for o in self.live.values() if o == owner["name"])
        self.peak[owner["name"]] = max(self.peak[owner["name"]], count)
        cs = self.clonesets.get(owner["name"])
        if cs is not None and count > cs.bound_replicas + cs.bound_surge:
            self.violations.append(
                f"CloneSet {owner['name']}: {count} live pods > replicas {cs.bound_replicas} + maxSurge "
                f"{cs.bound_surge} (at pod {name}, resourceVersion {meta['resourceVersion']})"
            )

    def live_of(self, cloneset: str) -> int:
        return sum(1 for o in self.live.values() if o == cloneset)


class NamespaceWatch:
    """CloneSet and pod watches of one namespace feeding a :class:`Ledger` in resourceVersion order.

    Each watch resumes from its last resourceVersion (bookmarks keep it fresh) after an API
    server or etcd restart; after a 410 it lists again (:meth:`_relist`).
    """

    def __init__(self, api: KubeClient, namespace: str, ledger: Ledger | None = None) -> None:
        self.api = api
        self.namespace = namespace
        self.ledger = ledger or Ledger()
        self._buffers: dict[str, list[tuple[int, int, str, JsonObject]]] = {"cs": [], "pod": []}
        self._progress: dict[str, int] = {"cs": 0, "pod": 0}
        self._seq = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.resumes = 0
        self.relists = 0

    async def start(self) -> None:
        for stream, path in (("cs", CLONESETS.path(self.namespace)), ("pod", PODS.path(self.namespace))):
            listing = await self.api.get(path)
            rv = int(listing["metadata"]["resourceVersion"])
            for item in listing.get("items", []):
                self._push(stream, "ADDED", item)
            self._progress[stream] = rv
            self._tasks.append(asyncio.create_task(self._follow(stream, path, rv)))
        self._drain()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drain(everything=True)

    def _push(self, stream: str, kind: str, obj: JsonObject) -> None:
        self._seq += 1
        rv = int(obj["metadata"]["resourceVersion"])
        heapq.heappush(self._buffers[stream], (rv, self._seq, kind, obj))

    def _drain(self, everything: bool = False) -> None:
        """Feed the ledger every buffered event up to what both watches have reached, in order."""
        upto = float("inf") if everything else min(self._progress.values())
        merged: list[tuple[int, int, str, str, JsonObject]] = []
        for stream, buffer in self._buffers.items():
            while buffer and buffer[0][0] <= upto:
                rv, seq, kind, obj = heapq.heappop(buffer)
                merged.append((rv, seq, stream, kind, obj))
        for rv, _, stream, kind, obj in sorted(merged, key=lambda e: (e[0], e[1])):
            (self.ledger.cloneset if stream == "cs" else self.ledger.pod)(kind, obj)
            self.ledger.last_rv = max(self.ledger.last_rv, rv)

    async def _relist(self, stream: str, path: str) -> int:
        """After a 410 (a restarted API server's watch cache starts at its own list): list again
        and feed the difference (:meth:`apply_relist`). Writes need the API server, so the gap is
        only what it had not yet sent us when it went away; counted in ``relists`` and reported."""
        self.relists += 1
        while True:
            try:
                listing = await self.api.get(path)
                break
            except KubeError:
                await asyncio.sleep(0.5)
        return self.apply_relist(stream, listing)

    def apply_relist(self, stream: str, listing: JsonObject) -> int:
        """Feed a fresh list as the watch would have: new objects as ADDED, the others as MODIFIED,
        and every pod known live that the list lacks as DELETED (at the list's resourceVersion).

        Known live means fed to the ledger *or still buffered*: an event waits in its buffer until
        the other watch has reached its resourceVersion, so a pod whose ADDED is buffered and which
        was deleted in the gap must get its DELETED here too, or it would count as live forever."""
        rv = int(listing["metadata"]["resourceVersion"])
        items = listing.get("items", [])
        for item in items:
            self._push(
                stream, "ADDED" if item["metadata"]["uid"] not in self.ledger.seen else "MODIFIED", item
            )
        if stream == "pod":
            present = {i["metadata"]["uid"] for i in items}
            pending = self._buffers[stream]
            buffered = {obj["metadata"]["uid"] for _, _, kind, obj in pending if kind != "DELETED"}
            for uid in sorted((set(self.ledger.live) | buffered) - present):
                gone = {"metadata": {"uid": uid, "name": uid, "resourceVersion": str(rv)}}
                self._push(stream, "DELETED", gone)
        self._progress[stream] = rv
        self._drain()
        return rv

    async def _follow(self, stream: str, path: str, rv: int) -> None:
        while True:
            params = {"resourceVersion": str(rv), "allowWatchBookmarks": "true", "timeoutSeconds": "60"}
            try:
                async for event in self.api.watch(path, params):
                    kind, obj = str(event.get("type")), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise Gone("watch history compacted")
                        break
                    rv = int(obj["metadata"]["resourceVersion"])
                    if kind != "BOOKMARK":
                        self._push(stream, kind, obj)
                    self._progress[stream] = rv
                    self._drain()
            except Gone:
                rv = await self._relist(stream, path)
            except KubeError:
                self.resumes += 1
                await asyncio.sleep(0.5)


@dataclass(frozen=True)
class Write:
    """One write the API server accepted (2xx), from its audit log: which CloneSet it touched (a
    pod counts for the CloneSet its name starts with), which worker process and reconcile sent it,
    and when it was committed (``stageTimestamp`` of the ``ResponseComplete`` stage: the response
    is sent after the object is stored)."""

    cloneset: str
    process: str
    reconcile: str
    committed: datetime


@dataclass(frozen=True)
class Span:
    """The writes of one reconcile to one CloneSet: first and last commit."""

    cloneset: str
    process: str
    reconcile: str
    start: datetime
    end: datetime
    writes: int


class AuditLog:
    """Reads the API server's audit log (and its rotated ``audit-<time>.log`` files) incrementally:
    each :meth:`writes` call returns only what was appended since the last one. Files are followed
    by inode, so a rotation (a rename) does not make a file read twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offsets: dict[int, int] = {}

    def entries(self, contains: bytes = b"") -> Iterable[JsonObject]:
        for path in sorted(self.path.parent.glob("audit*.log")):
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                continue
            with handle:
                inode = os.fstat(handle.fileno()).st_ino
                handle.seek(self._offsets.get(inode, 0))
                while line := handle.readline():
                    if not line.endswith(b"\n"):
                        break  # a line still being written: read it next time
                    self._offsets[inode] = handle.tell()
                    if contains in line:
                        with contextlib.suppress(ValueError):
                            yield json.loads(line)

    def writes(self, namespace: str) -> list[Write]:
        """The accepted writes of worker reconciles to CloneSets and pods of ``namespace``."""
        found = []
        for entry in self.entries(f'"namespace":"{namespace}"'.encode()):
            write = accepted_write(entry, namespace)
            if write is not None:
                found.append(write)
        return found


def accepted_write(entry: JsonObject, namespace: str) -> Write | None:
    """The audit event as a :class:`Write`, or None: not a worker reconcile's (the User-Agent
    ``flotilla-worker-cloneset/<holder> reconcile/<id>``, holder = host-pid, one per process), not
    this namespace's CloneSets or pods, not complete, or not accepted (non-2xx: a 409 conflict, a
    422, or a 504 whose client went away were not stored)."""
    agent = str(entry.get("userAgent", ""))
    ref = entry.get("objectRef") or {}
    if not agent.startswith(WORKER_AGENT) or " reconcile/" not in agent:
        return None
    if ref.get("namespace") != namespace or entry.get("stage") != "ResponseComplete":
        return None
    if not 200 <= int((entry.get("responseStatus") or {}).get("code", 0)) < 300:
        return None
    process, rid = agent[len(WORKER_AGENT) :].split(" reconcile/", 1)
    name = str(ref.get("name") or "")
    if ref.get("resource") == "pods":
        name = name.rsplit("-", 1)[0]  # kruise names pods <cloneset>-<random suffix>
    elif ref.get("resource") != "clonesets":
        return None
    if not name:
        return None
    committed = datetime.fromisoformat(str(entry["stageTimestamp"]).replace("Z", "+00:00"))
    return Write(name, process, rid, committed)


def reconcile_spans(writes: Iterable[Write]) -> list[Span]:
    """Per CloneSet, the span of each reconcile's accepted writes (first commit -> last commit)."""
    bounds: dict[tuple[str, str, str], tuple[datetime, datetime, int]] = {}
    for w in writes:
        key = (w.cloneset, w.process, w.reconcile)
        if key in bounds:
            start, end, count = bounds[key]
            bounds[key] = (min(start, w.committed), max(end, w.committed), count + 1)
        else:
            bounds[key] = (w.committed, w.committed, 1)
    return [Span(cs, p, r, s, e, n) for (cs, p, r), (s, e, n) in bounds.items()]


def overlaps(spans: Iterable[Span]) -> list[str]:
    """Two reconciles of *different processes* whose commits to one CloneSet interleave: one
    committed a write at or between the first and last commit of the other. A process's own
    reconciles of a key run one after another (one claim per key and process), so those are
    not compared."""
    by_key: dict[str, list[Span]] = {}
    for span in spans:
        by_key.setdefault(span.cloneset, []).append(span)
    found: list[str] = []
    for runs in by_key.values():
        runs.sort(key=lambda s: (s.start, s.end))
        latest: dict[str, Span] = {}  # per process, its span reaching furthest so far
        for run in runs:
            for process, other in latest.items():
                if process != run.process and other.end >= run.start:
                    found.append(
                        f"CloneSet {run.cloneset}: reconcile {run.reconcile} of {run.process} committed "
                        f"from {run.start.isoformat()} while reconcile {other.reconcile} of {process} "
                        f"committed until {other.end.isoformat()} "
                        f"({(other.end - run.start).total_seconds():.3f}s)"
                    )
            mine = latest.get(run.process)
            if mine is None or run.end > mine.end:
                latest[run.process] = run
    return found


def audit_overlaps(audit_log: Path, namespace: str) -> tuple[int, list[str]]:
    """(reconciles seen, descriptions of two processes' reconciles writing one CloneSet at once)."""
    spans = reconcile_spans(AuditLog(audit_log).writes(namespace))
    return len(spans), overlaps(spans)


async def dead_letters(js: JetStreamContext, namespace: str, worker_urls: Iterable[str]) -> dict[str, float]:
    """Dead letters of the namespace's CloneSet keys: in the stream, and the metric of each live worker."""
    found: dict[str, float] = {}
    try:
        info = await js.stream_info(
            DEADLETTER_STREAM, subjects_filter=f"flotilla.deadletter.cloneset.{namespace}.>"
        )
        found["stream"] = float(sum((info.state.subjects or {}).values()))
    except NotFoundError:
        found["stream"] = 0.0
    total = 0.0
    async with aiohttp.ClientSession() as http:
        for url in worker_urls:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response:
                    for line in (await response.text()).splitlines():
                        if line.startswith("flotilla_dead_letters_total{"):
                            total += float(line.rsplit(" ", 1)[1])
    found["metric"] = total
    return found


def failed_condition(objs: Iterable[JsonObject]) -> list[str]:
    """CloneSets marked FlotillaReconcileFailed (a dead letter's mark on the object)."""
    return [
        o["metadata"]["name"]
        for o in objs
        if any(
            c.get("type") == "FlotillaReconcileFailed"
            for c in (o.get("status") or {}).get("conditions") or ()
        )
    ]


def summary(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def recreate_cloneset(
    namespace: str, name: str, replicas: int, image: str, *, surge: int, unavailable: int
) -> JsonObject:
    """A CloneSet of one ``app`` container that replaces pods (ReCreate) within the given bounds."""
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "CloneSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "updateStrategy": {"type": "ReCreate", "maxSurge": surge, "maxUnavailable": unavailable},
        },
    }
