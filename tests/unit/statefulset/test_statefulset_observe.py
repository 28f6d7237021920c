"""What ``observe`` reads for a set's strays (``podmechanics.strays``): the stray LISTs by its own
labels while the selector LIST returns every pod ``status.replicas`` counted, and one
namespace-wide LIST (kruise's ``getPodsForStatefulSet`` read) in their place when it returns fewer
owned pods, or when the status says a pod create met a pod the set cannot see. That LIST finds an
owned pod stripped of every label, which no label selector can (kruise then releases it). How
many rounds of reads come before the plan: on a process's first look at a set two (the set; then
its pods, PVCs, revisions and the stray LISTs of the revisions its status names, together), after
that one (those LISTs go out with the set's GET while they are the ones its last read asked for),
one more only for a revision the status does not name or for the namespace-wide LIST, which is
left out when the trigger being answered names the one pod missing. The API server is faked by a
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
from workers.statefulset.builder import CONTROLLER_REVISIONS, STATEFULSETS
from workers.statefulset.observed import PlannerConfig
from workers.statefulset.planner import plan
from workers.statefulset.reads import LAST_READS
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
    again = Reader(sts(2, status=STEADY), [pod(0, A), pod(1, A)])
    observed = await observe(again, KEY)
    assert observed is not None
    assert sorted(name_of(p) for p in observed.pods) == ["web-0", "web-1"]
    # the same LISTs as the first look (selector, 2 stray LISTs, revisions), all with the GET
    assert again.pod_lists == reader.pod_lists
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
    assert reader.round_of(stray_ab) == 2
    assert reader.round_of("pods " + STRAY.format(rev=A)) == 1  # the guess, sent with the GET, unused
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
