"""When a CloneSet's ``observe`` sends its stray LISTs (``runtime.strayreads``, the rule the Advanced
StatefulSet shares): on a process's first look at the CloneSet, when the LISTs it asks for
change (a new revision), on the watcher's resync trigger, once ``STRAY_RESYNC`` (300 s) passed,
on an event of a pod its selector LIST did not return, and when that LIST is short of
``status.replicas``; never else (a steady reconcile and one answering its own pods' events read
the CloneSet, its pods and its revisions: 3 requests instead of 5). The API server is faked by
a reader that answers each LIST by Kubernetes' label-selector grammar from a table (the
StatefulSet observe test's); the expected requests are worked out by hand from the rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flotilla.runtime.kube import PODS, Resource
from schemas.bus.envelope import Envelope, EventType, KeyParts, ReconcileKey
from tests.unit.cloneset.cloneset_builders import cloneset, pod, rev_name, revision
from tests.unit.statefulset.test_statefulset_observe import selector_matches
from workers.cloneset.lowering import CLONESETS, CONTROLLER_REVISIONS
from workers.cloneset.worker import LAST_READS, observe
from workers.podmechanics.kube_json import name_of
from workers.runtime.observe import answering
from workers.runtime.strayreads import STRAY_RESYNC, LastRead


@pytest.fixture(autouse=True)
def _first_look() -> Iterator[None]:
    """Each test starts as a process that never read the CloneSet."""
    LAST_READS.clear()
    yield
    LAST_READS.clear()


CS = cloneset(2, status={"replicas": 2})
REV = rev_name(CS)
HASH = REV.rsplit("-", 1)[-1]
STRAYS = [
    f"apps.kruise.io/cloneset-instance-id,pod-template-hash in ({HASH}),app!=web",
    "apps.kruise.io/cloneset-instance-id,!pod-template-hash,app!=web",
]
KEY = KeyParts("cloneset", "ns", "web")


class Reader:
    """Answers the CloneSet's GET, its revisions and pod LISTs by their label selectors; records
    every request."""

    def __init__(self, body: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        self.body, self.pods = body, pods
        self.requests: list[str] = []

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        assert (resource, namespace, name) == (CLONESETS, "ns", "web")
        self.requests.append("get")
        return self.body

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        del namespace, field_selector
        self.requests.append(f"{resource.plural} {label_selector}")
        if resource == CONTROLLER_REVISIONS:
            return [revision(CS)]
        assert resource == PODS
        return [p for p in self.pods if selector_matches(label_selector, p["metadata"].get("labels", {}))]


def pod_lists(reader: Reader) -> list[str]:
    """The label selectors of the pod LISTs ``reader`` answered, in order."""
    return [r.removeprefix("pods ") for r in reader.requests if r.startswith("pods ")]


def body(replicas: int = 2) -> dict[str, Any]:
    raw = CS.to_wire()
    raw["status"] = {"replicas": replicas}
    return raw


def steady() -> list[dict[str, Any]]:
    return [pod("web-a", REV), pod("web-b", REV)]


def pod_event(event: EventType, uid: str) -> Envelope:
    return Envelope(ReconcileKey("cloneset/ns/web"), event, "Pod", uid, "8", 0.0)


def cloneset_event(event: EventType = EventType.MODIFIED) -> Envelope:
    return Envelope(ReconcileKey("cloneset/ns/web"), event, "CloneSet", "cs-uid", "9", 0.0)


async def look(reader: Reader, trigger: Envelope | None = None) -> list[str]:
    """Observe once (answering ``trigger``); the names of the pods observed."""
    if trigger is None:
        snapshot = await observe(reader, KEY)
    else:
        with answering(trigger):
            snapshot = await observe(reader, KEY)
    assert snapshot.observed is not None
    return sorted(name_of(p) for p in snapshot.observed.pods)


async def test_the_first_look_sends_the_stray_lists_and_a_steady_reconcile_after_it_does_not() -> None:
    first = Reader(body(), steady())
    assert await look(first) == ["web-a", "web-b"]
    assert first.requests == [
        "get",
        "pods app=web",
        "controllerrevisions app=web",
        *(f"pods {s}" for s in STRAYS),
    ]
    # the CloneSet's own event, a read pod's event: 3 requests, no stray LIST
    for trigger in (cloneset_event(), pod_event(EventType.MODIFIED, "uid-web-a"), None):
        again = Reader(body(), steady())
        assert await look(again, trigger) == ["web-a", "web-b"]
        assert again.requests == ["get", "pods app=web", "controllerrevisions app=web"], trigger


@pytest.mark.parametrize(
    ("why", "trigger", "pods", "replicas"),
    [
        ("a resync trigger", cloneset_event(EventType.RESYNC), steady(), 2),
        # web-c relabelled out of the selector after the last status counted it as one of 3
        ("the selector LIST is short of status.replicas", cloneset_event(), steady(), 3),
        # a status written without web-c (it was relabelled first): its own event says so
        ("an event of a pod not read", pod_event(EventType.MODIFIED, "uid-web-c"), steady(), 2),
    ],
)
async def test_the_stray_lists_go_out_when_a_stray_may_exist(
    why: str, trigger: Envelope, pods: list[dict[str, Any]], replicas: int
) -> None:
    await look(Reader(body(), steady()))
    relabelled = pod("web-c", REV, labels={"app": "gone"})
    reader = Reader(body(replicas), [*pods, relabelled])
    assert await look(reader, trigger) == ["web-a", "web-b", "web-c"], why
    assert pod_lists(reader) == ["app=web", *STRAYS], why


async def test_a_deleted_pod_the_count_explains_sends_none_but_a_short_list_does() -> None:
    await look(Reader(body(), steady()))
    # web-b's deletion: DELETED names no pod to look for; the status (2) still counted it
    reader = Reader(body(), [pod("web-a", REV)])
    await look(reader, pod_event(EventType.DELETED, "uid-web-b"))
    assert pod_lists(reader) == ["app=web", *STRAYS]  # short of status.replicas: looked for
    # once the status says 1, the same reconcile reads 3
    reader = Reader(body(1), [pod("web-a", REV)])
    await look(reader, pod_event(EventType.DELETED, "uid-web-b"))
    assert reader.requests == ["get", "pods app=web", "controllerrevisions app=web"]


async def test_stray_resync_seconds_after_the_last_look_they_go_out_again() -> None:
    await look(Reader(body(), steady()))
    last = LAST_READS.get(("ns", "web"))
    assert last is not None
    assert last.reads == tuple(STRAYS)
    LAST_READS.put(("ns", "web"), LastRead(last.reads, last.strays_read_at - STRAY_RESYNC))
    reader = Reader(body(), steady())
    await look(reader, cloneset_event())
    assert pod_lists(reader) == ["app=web", *STRAYS]
    reader = Reader(body(), steady())
    await look(reader, cloneset_event())
    assert pod_lists(reader) == ["app=web"]


async def test_new_stray_lists_a_new_revision_asks_for_go_out() -> None:
    LAST_READS.put(("ns", "web"), LastRead(("an older revision's LISTs",), 1e18))
    reader = Reader(body(), steady())
    await look(reader, cloneset_event())
    assert pod_lists(reader) == ["app=web", *STRAYS]


async def test_a_cloneset_that_is_gone_is_forgotten() -> None:
    await look(Reader(body(), steady()))
    gone = Reader(body(), [])
    gone.body = None  # type: ignore[assignment]
    snapshot = await observe(gone, KEY)
    assert snapshot.observed is None
    assert LAST_READS.get(("ns", "web")) is None
