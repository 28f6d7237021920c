"""What ``observe`` reads for a set's strays (``podmechanics.strays``): the stray LISTs by its own
labels while the selector LIST returns every pod ``status.replicas`` counted, and one
namespace-wide LIST (kruise's ``getPodsForStatefulSet`` read) in their place when it returns fewer
owned pods, or when the status says a pod create met a pod the set cannot see. That LIST finds an
owned pod stripped of every label, which no label selector can (kruise then releases it). The API
server is faked by a reader that answers each LIST from a table; the planner is the real one."""

from __future__ import annotations

from typing import Any

from flotilla.runtime.kube import PODS, Resource
from schemas.bus.envelope import KeyParts
from tests.unit.statefulset.sts_builders import NOW, pod, steps, sts
from tests.unit.statefulset.test_statefulset_planner import REV_A, A
from workers.podmechanics.kube_json import name_of
from workers.statefulset.builder import CONTROLLER_REVISIONS, STATEFULSETS
from workers.statefulset.observed import PlannerConfig
from workers.statefulset.planner import plan
from workers.statefulset.worker import observe


class Reader:
    """Answers the set's GET, its revisions, and pod LISTs: the selector LIST with the pods that
    carry ``app=web``, a LIST without selector with every pod, any other (stray) LIST with none."""

    def __init__(self, body: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        self.body, self.pods = body, pods
        self.pod_lists: list[str] = []

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        assert (resource, namespace, name) == (STATEFULSETS, "ns", "web")
        return self.body

    async def list(
        self, resource: Resource, namespace: str, label_selector: str = "", field_selector: str = ""
    ) -> list[dict[str, Any]]:
        del namespace, field_selector
        if resource == CONTROLLER_REVISIONS:
            return [REV_A]
        assert resource == PODS
        self.pod_lists.append(label_selector)
        if label_selector == "app=web":
            return [p for p in self.pods if p["metadata"].get("labels", {}).get("app") == "web"]
        return list(self.pods) if label_selector == "" else []


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


async def test_an_owned_pod_stripped_of_its_labels_is_found_and_released() -> None:
    stripped = pod(1, A)
    stripped["metadata"]["labels"] = {}
    reader = Reader(sts(2, status=STEADY), [pod(0, A), stripped, pod(0, A, name="other", owner=False)])
    observed = await observe(reader, KEY)
    assert observed is not None
    assert reader.pod_lists == ["app=web", ""]  # the namespace LIST instead of the stray LISTs
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
