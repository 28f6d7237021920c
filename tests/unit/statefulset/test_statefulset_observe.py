"""What ``observe`` reads for a set's strays (``podmechanics.strays``): the stray LISTs by its own
labels while the selector LIST returns every pod ``status.replicas`` counted, and one
namespace-wide LIST (kruise's ``getPodsForStatefulSet`` read) in their place when it returns fewer
owned pods, or when the status says a pod create met a pod the set cannot see. That LIST finds an
owned pod stripped of every label, which no label selector can (kruise then releases it). How
many rounds of reads come before the plan: on a process's first look at a set two (the set; then
its pods, PVCs, revisions and the stray LISTs of the revisions its status names, together), after
that one (those LISTs go out with the set's GET while they are the ones its last read asked for),
one more only for a revision the status does not name or for the namespace-wide LIST, which is
left out when the trigger being answered names the one pod missing. The stray LISTs themselves
go out only when a stray may exist (``runtime.strayreads.strays_due``): first look, new reads, a resync
trigger, :data:`STRAY_RESYNC` since the last look, or (a second round) an event of a pod the
selector LIST did not return that its count does not explain. The API server is faked by a
reader that answers each LIST by Kubernetes' label-selector grammar from a table; the planner is
the real one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from flotilla.runtime.kube import PODS, Resource
from schemas.bus.envelope import Envelope, EventType, KeyParts, ReconcileKey
from tests.unit.statefulset.sts_builders import NOW, pod, steps, sts
from tests.unit.statefulset.test_statefulset_planner import REV_A, A, B
from workers.podmechanics.kube_json import name_of
from workers.runtime.observe import answering
from workers.runtime.strayreads import STRAY_RESYNC, LastRead, strays_due
from workers.statefulset.builder import CONTROLLER_REVISIONS, STATEFULSETS
from workers.statefulset.observed import PlannerConfig
from workers.statefulset.planner import plan
from workers.statefulset.reads import LAST_READS, Reads
from workers.statefulset.worker import observe


@pytest.fixture(autouse=True)
def _first_look() -> Iterator[None]:
    """Each test starts as a process that never read the set (the reads it remembers are cleared)."""
    LAST_READS.clear()
    yield
    LAST_READS.clear()


_TERM = re.compile(r"(!?)([\w./-]+)\s*(?:(!=|=)\s*([\w.-]*)|\s+(in|notin)\s+\(([^)]*)\))?$")


def _term_matches(term: str, labels: dict[str, str]) -> bool:
    match = _TERM.match(term.strip())
    assert match is not None, term
    negated, key, op, value, set_op, values = match.groups()
    if op == "=":
        return labels.get(key) == value
    if op == "!=":
        return labels.get(key) != value
    if set_op is not None:
        inside = labels.get(key) in {v.strip() for v in values.split(",")}
        return inside if set_op == "in" else not inside
    return (key in labels) != bool(negated)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """A label selector string (``k=v``, ``k!=v``, ``k``, ``!k``, ``k in (..)``, ``k notin (..)``)."""
    terms = re.split(r",(?![^(]*\))", selector) if selector else []
    return all(_term_matches(t, labels) for t in terms)


class Reader:
    """Answers the set's GET, its revisions, and pod LISTs by their label selectors; records
    each read's round: a read that starts while none is in flight starts a new round."""

    def __init__(
        self, body: dict[str, Any], pods: list[dict[str, Any]], revisions: list[dict[str, Any]] | None = None
    ) -> None:
        self.body, self.pods = body, pods
        self.revisions = [REV_A] if revisions is None else revisions
        self.pod_lists: list[str] = []
        self.rounds: list[tuple[int, str]] = []
        self._round = 0
        self._in_flight = 0

    async def _read(self, what: str) -> None:
        if self._in_flight == 0:
            self._round += 1
        self.rounds.append((self._round, what))
        self._in_flight += 1
        for _ in range(5):  # the reads gathers start together (nested too) are all in flight at once
            await asyncio.sleep(0)
        self._in_flight -= 1

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        assert (resource, namespace, name) == (STATEFULSETS, "ns", "web")
        await self._read("get")
        return self.body

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        del namespace, field_selector
        await self._read(f"{resource.plural} {label_selector}")
        if resource == CONTROLLER_REVISIONS:
            return self.revisions
        assert resource == PODS
        self.pod_lists.append(label_selector)
        return [p for p in self.pods if selector_matches(label_selector, p["metadata"].get("labels", {}))]

    def round_of(self, what: str) -> int:
        (found,) = [r for r, w in self.rounds if w == what]
        return found


KEY = KeyParts("statefulset", "ns", "web")
STEADY = {"observedGeneration": 2, "replicas": 2, "currentRevision": A, "updateRevision": A}


async def test_a_steady_set_reads_only_its_own_pods() -> None:
    reader = Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A)])
    observed = await observe(reader, KEY)
    assert observed is not None
    assert len(observed.pods) == 2
    assert "" not in reader.pod_lists
    assert reader.pod_lists[0] == "app=web"
    assert len(reader.pod_lists) == 3  # + 2 stray LISTs
    # the set, then everything else at once: no read waits for another before the plan
    assert reader.round_of("get") == 1
    assert {r for r, what in reader.rounds if what != "get"} == {2}


async def test_an_owned_pod_stripped_of_its_labels_is_found_and_released() -> None:
    stripped = pod(1, A)
    stripped["metadata"]["labels"] = {}
    reader = Reader(sts(2, status=STEADY), [pod(0, A), stripped, pod(0, A, name="other", owner=False)])
    observed = await observe(reader, KEY)
    assert observed is not None
    # the namespace LIST, once the selector LIST came back short, in place of the stray LISTs
    # (read meanwhile; they miss a pod without labels)
    assert reader.pod_lists[0] == "app=web"
    assert reader.round_of("pods ") == 3
    # the orphan other-0 (selector LIST) is not named after the set: left alone
    assert sorted(name_of(p) for p in observed.pods) == ["other-0", "web-0", "web-1"]
    # kruise's ClaimPods releases it; its ordinal's create then meets it (AlreadyExists)
    assert steps(plan(observed, PlannerConfig(), NOW)) == ["patch pods web-1", "create pods web-1"]


async def test_a_create_that_met_an_unseen_pod_makes_the_next_read_namespace_wide() -> None:
    failed = {
        "type": "FailedCreatePod",
        "status": "True",
        "lastTransitionTime": "2026-11-29T11:00:00Z",
        "message": 'StatefulPodControl failed to create Pod error: pods "web-1" already exists',
    }
    reader = Reader(sts(2, status={**STEADY, "replicas": 1, "conditions": [failed]}), [pod(0, A)])
    await observe(reader, KEY)
    assert reader.pod_lists == ["app=web", ""]


STRAY = "statefulset.kubernetes.io/pod-name,controller-revision-hash in ({rev}),app!=web"


async def test_a_stray_at_a_revision_the_status_names_is_found_in_the_second_round() -> None:
    # relabelled out while another pod was created: the count the status kept misses nothing
    relabelled = pod(1, B, labels={"app": "gone"})
    status = {**STEADY, "replicas": 1, "updateRevision": B}
    reader = Reader(
        sts(2, status=status), [pod(0, A), relabelled], revisions=[REV_A, {"metadata": {"name": B}}]
    )
    observed = await observe(reader, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    assert reader.round_of("pods " + STRAY.format(rev=",".join(sorted([A, B])))) == 2
    assert max(r for r, _ in reader.rounds) == 2


async def test_a_stray_at_a_revision_the_status_does_not_name_is_found_in_a_third_round() -> None:
    # a partitioned rollout A -> B -> C: pods can be at B while the status names A and C
    older = "web-0123456789"
    relabelled = pod(1, older, labels={"app": "gone"})
    revisions = [REV_A, {"metadata": {"name": older}}, {"metadata": {"name": B}}]
    status = {**STEADY, "replicas": 1, "updateRevision": B}
    reader = Reader(sts(2, status=status), [pod(0, A), relabelled], revisions)
    observed = await observe(reader, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    assert reader.round_of("pods " + STRAY.format(rev=",".join(sorted([A, B])))) == 2
    assert reader.round_of("pods " + STRAY.format(rev=older)) == 3
    # the pods without a revision label were listed once, in the second round
    assert reader.round_of("pods statefulset.kubernetes.io/pod-name,!controller-revision-hash,app!=web") == 2


def _reads_after_get(reader: Reader) -> set[int]:
    return {r for r, what in reader.rounds if what != "get"}


async def test_a_set_read_before_is_read_in_one_round() -> None:
    reader = Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A)])
    await observe(reader, KEY)
    assert reader.round_of("get") == 1
    assert _reads_after_get(reader) == {2}
    assert len(reader.pod_lists) == 3  # the selector and 2 stray LISTs: a first look
    again = Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A)])
    observed = await observe(again, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    # the selector and revision LISTs, with the GET; no stray LIST: nothing says one may exist
    assert again.pod_lists == ["app=web"]
    assert {r for r, _ in again.rounds} == {1}


async def test_lists_the_set_no_longer_asks_for_are_read_again_after_the_get() -> None:
    await observe(Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A)]), KEY)
    # since then the status named revision B, and web-1 at B was relabelled out of the selector:
    # only the stray LIST of B finds it, which the remembered LISTs (of A) do not include
    relabelled = pod(1, B, labels={"app": "gone"})
    status = {**STEADY, "replicas": 1, "updateRevision": B}
    reader = Reader(
        sts(2, status=status), [pod(0, A), relabelled], revisions=[REV_A, {"metadata": {"name": B}}]
    )
    observed = await observe(reader, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    stray_ab = "pods " + STRAY.format(rev=",".join(sorted([A, B])))
    assert reader.round_of(stray_ab) == 2  # new reads: the strays are looked for
    # the guess, sent with the GET, unused; read again with the stray LISTs
    assert [r for r, what in reader.rounds if what == "pods app=web"] == [1, 2]
    # remembered: the next look reads in one round
    again = Reader(
        sts(2, status=status), [pod(0, A), relabelled], revisions=[REV_A, {"metadata": {"name": B}}]
    )
    await observe(again, KEY)
    assert {r for r, _ in again.rounds} == {1}


def _pod_event(event: EventType, uid: str) -> Envelope:
    return Envelope(ReconcileKey("statefulset/ns/web"), event, "Pod", uid, "8", 0.0)


@pytest.mark.parametrize("event", [EventType.DELETED, EventType.MODIFIED])
async def test_the_pod_the_trigger_names_being_the_one_missing_skips_the_namespace_read(
    event: EventType,
) -> None:
    # web-1 was deleted (DELETED), or the reconcile of its deletionTimestamp (MODIFIED) reads
    # after kwok removed it: nothing is left to find in the namespace
    gone = pod(1, A)
    reader = Reader(sts(2, status=STEADY), [pod(0, A)])
    with answering(_pod_event(event, gone["metadata"]["uid"])):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert "" not in reader.pod_lists
    assert steps(plan(observed, PlannerConfig(), NOW)) == ["create pods web-1"]


async def test_the_namespace_is_read_when_the_trigger_does_not_explain_what_is_missing() -> None:
    # two pods missing, the trigger names one of them; the trigger names a pod that was read;
    # the trigger is the set's own event
    cases = [
        (sts(3, status={**STEADY, "replicas": 3}), [pod(0, A)], _pod_event(EventType.DELETED, "uid-web-2")),
        (sts(2, status=STEADY), [pod(0, A)], _pod_event(EventType.MODIFIED, pod(0, A)["metadata"]["uid"])),
        (
            sts(2, status=STEADY),
            [pod(0, A)],
            Envelope(
                ReconcileKey("statefulset/ns/web"), EventType.MODIFIED, "StatefulSet", "uid-web", "9", 0.0
            ),
        ),
    ]
    for body, pods, trigger in cases:
        LAST_READS.clear()
        reader = Reader(body, pods)
        with answering(trigger):
            await observe(reader, KEY)
        assert reader.pod_lists[-1] == "", trigger


STRAYS_OF_A = [
    "statefulset.kubernetes.io/pod-name,controller-revision-hash in (" + A + "),app!=web",
    "statefulset.kubernetes.io/pod-name,!controller-revision-hash,app!=web",
]


def _set_event() -> Envelope:
    return Envelope(
        ReconcileKey("statefulset/ns/web"), EventType.MODIFIED, "StatefulSet", "uid-web", "9", 0.0
    )


def test_when_the_stray_lists_are_due() -> None:
    reads = Reads(selector="app=web", claims=False, strays=("s1", "s2"), namespace_wide=False)
    newer = Reads(selector="app=web", claims=False, strays=("s1", "s3"), namespace_wide=False)
    fresh = LastRead(reads, strays_read_at=1000.0)
    resync = Envelope(
        ReconcileKey("statefulset/ns/web"), EventType.RESYNC, "StatefulSet", "uid-web", "9", 0.0
    )
    # (last read, reads now, trigger, at) -> due; the times worked out from STRAY_RESYNC (300 s)
    table: list[tuple[LastRead[Reads] | None, Reads | None, Envelope | None, float, bool]] = [
        (None, None, None, 1000.0, True),  # first look
        (None, reads, _set_event(), 1000.0, True),
        (fresh, None, None, 1000.0, False),
        (fresh, reads, _set_event(), 1299.9, False),
        (fresh, reads, _pod_event(EventType.MODIFIED, "uid-web-1"), 1010.0, False),
        (fresh, newer, None, 1000.0, True),  # another revision named: new stray LISTs
        (fresh, reads, resync, 1000.0, True),
        (fresh, None, resync, 1000.0, True),
        (fresh, reads, None, 1300.0, True),
    ]
    assert STRAY_RESYNC == 300.0
    for last, now_reads, trigger, at, due in table:
        assert strays_due(last, now_reads, trigger, at) is due, (last, now_reads, trigger, at)


async def _looked_at_before() -> None:
    """A first look at the steady set (stray LISTs sent, found nothing) in this process."""
    first = Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A)])
    await observe(first, KEY)
    assert first.pod_lists == ["app=web", *STRAYS_OF_A]


async def test_a_set_looked_at_before_reads_no_stray_list_when_its_own_event_or_a_read_pod_triggers() -> None:
    await _looked_at_before()
    for trigger in (_set_event(), _pod_event(EventType.MODIFIED, "uid-web-1")):
        reader = Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A, deleting=True)])
        with answering(trigger):
            observed = await observe(reader, KEY)
        assert observed is not None
        assert reader.pod_lists == ["app=web"]
        assert [what for _, what in reader.rounds] == ["get", "pods app=web", "controllerrevisions app=web"]
        assert {r for r, _ in reader.rounds} == {1}


@pytest.mark.parametrize("event", [EventType.DELETED, EventType.MODIFIED])
async def test_the_reaction_to_a_deleted_pod_is_three_reads_in_one_round(event: EventType) -> None:
    # what kruise's "PVC should be recreated when pod is pending" races against: the set's GET,
    # its pods and revisions, together; no stray LIST, no namespace LIST
    await _looked_at_before()
    reader = Reader(sts(2, status=STEADY), [pod(0, A)])
    with answering(_pod_event(event, "uid-web-1")):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert len(reader.rounds) == 3
    assert {r for r, _ in reader.rounds} == {1}
    assert reader.pod_lists == ["app=web"]
    assert steps(plan(observed, PlannerConfig(), NOW)) == ["create pods web-1"]


async def test_a_resync_trigger_or_time_sends_the_stray_lists_with_the_get() -> None:
    relabelled = pod(1, A, labels={"app": "gone"})
    stale = {**STEADY, "replicas": 1}  # a status write that missed web-1: the count misses nothing
    await _looked_at_before()
    resync = Envelope(
        ReconcileKey("statefulset/ns/web"), EventType.RESYNC, "StatefulSet", "uid-web", "9", 0.0
    )
    reader = Reader(sts(2, status=stale), [pod(0, A), relabelled])
    with answering(resync):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    assert {r for r, _ in reader.rounds} == {1}
    # STRAY_RESYNC after the last look, whatever the trigger
    last = LAST_READS.get(("ns", "web"))
    assert last is not None
    LAST_READS.put(("ns", "web"), LastRead(last.reads, last.strays_read_at - STRAY_RESYNC))
    reader = Reader(sts(2, status=stale), [pod(0, A), relabelled])
    with answering(_set_event()):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    assert reader.pod_lists == ["app=web", *STRAYS_OF_A]
    # looked at now: the next set event sends none
    reader = Reader(sts(2, status=stale), [pod(0, A), relabelled])
    with answering(_set_event()):
        await observe(reader, KEY)
    assert reader.pod_lists == ["app=web"]


async def test_an_event_of_a_pod_not_read_that_the_count_does_not_explain_sends_the_stray_lists() -> None:
    # web-1 relabelled out while the status (written before it was counted) says 1 replica: the
    # selector LIST is not short, but the trigger is web-1's event and web-1 was not read
    await _looked_at_before()
    relabelled = pod(1, A, labels={"app": "gone"})
    reader = Reader(sts(2, status={**STEADY, "replicas": 1}), [pod(0, A), relabelled])
    with answering(_pod_event(EventType.MODIFIED, relabelled["metadata"]["uid"])):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    assert [reader.round_of("pods " + s) for s in STRAYS_OF_A] == [2, 2]
    # kruise's ClaimPods releases it; its ordinal's create then meets it (AlreadyExists)
    assert steps(plan(observed, PlannerConfig(), NOW)) == ["patch pods web-1", "create pods web-1"]


async def test_a_pod_relabelled_out_of_a_counted_set_is_taken_for_deleted_then_found() -> None:
    # the count explains the missing pod by the trigger (as for a deletion): no stray LIST; the
    # ordinal's create meets the pod (AlreadyExists: the stack test sees it through the API
    # server), and the status that failure writes makes the next read namespace-wide
    await _looked_at_before()
    relabelled = pod(1, A, labels={"app": "gone"})
    reader = Reader(sts(2, status=STEADY), [pod(0, A), relabelled])
    with answering(_pod_event(EventType.MODIFIED, relabelled["metadata"]["uid"])):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert reader.pod_lists == ["app=web"]
    assert steps(plan(observed, PlannerConfig(), NOW)) == ["create pods web-1"]
    failed = {
        "type": "FailedCreatePod",
        "status": "True",
        "lastTransitionTime": "2026-11-29T11:00:00Z",
        "message": 'StatefulPodControl failed to create Pod error: pods "web-1" already exists',
    }
    reader = Reader(sts(2, status={**STEADY, "conditions": [failed]}), [pod(0, A), relabelled])
    with answering(_set_event()):
        observed = await observe(reader, KEY)
    assert observed is not None
    assert reader.pod_lists[-1] == ""
    assert "patch pods web-1" in steps(plan(observed, PlannerConfig(), NOW))
