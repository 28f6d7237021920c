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
  write of a worker carries ``<process> reconcile/<id>`` in its User-Agent
  (flotilla/runtime/kube.py); per CloneSet, the span of each reconcile's writes (received ->
  answered) must not overlap another reconcile's: no key written by two reconciles at once.
* :func:`dead_letters` counts what the bus parked for the namespace (stream, metric, condition).
* :func:`recreate_cloneset` is the CloneSet both roll: one container, ReCreate updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
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
        and feed the difference: new objects as ADDED, vanished ones as DELETED. Writes need the API
        server, so the gap is only what it had not yet sent us when it went away; counted in
        ``relists`` and reported."""
        self.relists += 1
        while True:
            try:
                listing = await self.api.get(path)
                break
            except KubeError:
                await asyncio.sleep(0.5)
        rv = int(listing["metadata"]["resourceVersion"])
        items = listing.get("items", [])
        for item in items:
            self._push(
                stream, "ADDED" if item["metadata"]["uid"] not in self.ledger.seen else "MODIFIED", item
            )
        if stream == "pod":
            present = {i["metadata"]["uid"] for i in items}
            for uid in [u for u in self.ledger.live if u not in present]:
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
class Span:
    cloneset: str
    process: str
    reconcile: str
    start: datetime
    end: datetime


def _audit_lines(audit_log: Path) -> Iterable[JsonObject]:
    for path in sorted(audit_log.parent.glob("audit*.log")):
        with path.open("rb") as lines:
            for line in lines:
                with contextlib.suppress(ValueError):
                    yield json.loads(line)


def reconcile_spans(audit_log: Path, namespace: str) -> list[Span]:
    """The span of each worker reconcile's writes to one CloneSet and its pods, from the audit log."""
    bounds: dict[tuple[str, str, str], list[datetime]] = {}
    for entry in _audit_lines(audit_log):
        agent = str(entry.get("userAgent", ""))
        ref = entry.get("objectRef") or {}
        if (
            not agent.startswith(WORKER_AGENT)
            or ref.get("namespace") != namespace
            or " reconcile/" not in agent
        ):
            continue
        process, rid = agent[len(WORKER_AGENT) :].split(" reconcile/", 1)
        name = str(ref.get("name") or "")
        if ref.get("resource") == "pods":
            name = name.rsplit("-", 1)[0]  # kruise names pods <cloneset>-<random suffix>
        elif ref.get("resource") != "clonesets":
            continue
        if not name:
            continue
        start = datetime.fromisoformat(entry["requestReceivedTimestamp"])
        end = datetime.fromisoformat(entry["stageTimestamp"])
        span = bounds.setdefault((name, process, rid), [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return [Span(cs, p, r, s, e) for (cs, p, r), (s, e) in bounds.items()]


def audit_overlaps(audit_log: Path, namespace: str) -> tuple[int, list[str]]:
    """(reconciles seen, descriptions of two reconciles writing one CloneSet at the same time)."""
    spans = reconcile_spans(audit_log, namespace)
    by_key: dict[str, list[Span]] = {}
    for span in spans:
        by_key.setdefault(span.cloneset, []).append(span)
    found: list[str] = []
    for runs in by_key.values():
        runs.sort(key=lambda s: s.start)
        latest: Span | None = None
        for run in runs:
            if latest is not None and run.start < latest.end:
                found.append(
                    f"CloneSet {run.cloneset}: reconcile {run.reconcile} of {run.process} wrote from "
                    f"{run.start.isoformat()} while {latest.reconcile} of {latest.process} wrote until "
                    f"{latest.end.isoformat()}"
                )
            if latest is None or run.end > latest.end:
                latest = run
    return len(spans), found


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
