"""The webhook's PodUnavailableBudget route: which requests spend a budget, on which pod, and the answer.

The cluster port is a recording fake (the I/O around the pure classify/verdict); the spending itself
is tested against the real API server in tests/integration/webhook/test_webhook_pub.py.
"""

from __future__ import annotations

from typing import Any

from flotilla.runtime.features import feature_gates
from flotilla.runtime.kube import JsonObject
from webhook.dispatch import AdmissionConfig, admit, route_table
from webhook.review import AdmissionRequest
from workers.podunavailablebudget.admission import Decision, PubOperation

POD: dict[str, Any] = {
    "metadata": {"name": "web-0", "namespace": "ns", "annotations": {"kruise.io/related-pub": "guard"}},
    "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
}
REFUSED = 'podunavailablebudget.policy.kruise.io "guard" is forbidden: pub unavailable allowed is negative'


class RecordingCluster:
    def __init__(self, decision: Decision, pod: JsonObject | None = POD) -> None:
        self.decision, self._pod = decision, pod
        self.spent: list[tuple[PubOperation, str, bool]] = []

    async def active_pods(self, namespace: str) -> int:
        raise AssertionError("not read")

    async def bound_claims(self, namespace: str) -> int:
        raise AssertionError("not read")

    async def live_custom_resources(self, group: str, version: str, plural: str) -> int:
        raise AssertionError("not read")

    async def read_pod(self, namespace: str, name: str) -> JsonObject | None:
        return self._pod

    async def spend_pod_budget(self, operation: str, pod: JsonObject, dry_run: bool, in_place: bool) -> str:
        self.spent.append((PubOperation(operation), pod["metadata"]["name"], dry_run))
        return "" if self.decision.allowed else self.decision.message


def request(operation: str, kind: str = "Pod", group: str = "", **fields: Any) -> AdmissionRequest:
    return AdmissionRequest(
        uid="u",
        group=group,
        version="v1",
        kind=kind,
        operation=operation,
        namespace="ns",
        name="web-0",
        **fields,
    )


async def answer(req: AdmissionRequest, cluster: RecordingCluster, **gates: bool) -> tuple[bool, int, str]:
    config = AdmissionConfig(gates=feature_gates(gates))
    verdict = await admit(route_table()["/validate"], "/validate", req, config, cluster)
    return verdict.allowed, verdict.code, verdict.message


async def test_a_delete_spends_the_budget_of_the_pod_as_it_was() -> None:
    cluster = RecordingCluster(Decision(True))
    assert await answer(request("DELETE", old_object=POD, dry_run=True), cluster) == (True, 200, "")
    assert cluster.spent == [(PubOperation.DELETE, "web-0", True)]


async def test_a_refusal_carries_kruises_message() -> None:
    cluster = RecordingCluster(Decision(False, REFUSED, refused_event=True))
    assert await answer(request("DELETE", old_object=POD), cluster) == (False, 403, REFUSED)


async def test_an_eviction_decides_on_the_pod_it_names() -> None:
    cluster = RecordingCluster(Decision(False, REFUSED))
    eviction = request(
        "CREATE", kind="Eviction", group="policy", sub_resource="eviction", object={"kind": "Eviction"}
    )
    assert await answer(eviction, cluster) == (False, 403, REFUSED)
    assert cluster.spent == [(PubOperation.EVICT, "web-0", False)]
    gone = RecordingCluster(Decision(False, REFUSED), pod=None)
    assert await answer(eviction, gone) == (True, 200, "")
    assert gone.spent == []


async def test_an_update_is_checked_only_with_the_update_gate_and_when_it_may_make_the_pod_unavailable() -> (
    None
):
    new = {**POD, "spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}
    update = request("UPDATE", object=new, old_object=POD)
    off = RecordingCluster(Decision(False, REFUSED))
    assert await answer(update, off) == (True, 200, "")  # PodUnavailableBudgetUpdateGate: alpha, off
    assert off.spent == []
    on = RecordingCluster(Decision(False, REFUSED))
    assert await answer(update, on, PodUnavailableBudgetUpdateGate=True) == (False, 403, REFUSED)
    assert on.spent == [(PubOperation.UPDATE, "web-0", False)]
    relabel = request(
        "UPDATE", object={**POD, "metadata": {**POD["metadata"], "labels": {"x": "1"}}}, old_object=POD
    )
    quiet = RecordingCluster(Decision(False, REFUSED))
    assert await answer(relabel, quiet, PodUnavailableBudgetUpdateGate=True) == (True, 200, "")
    assert quiet.spent == []
