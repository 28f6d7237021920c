"""Event correlation against the real API server: repeats patch count, new messages create."""

from __future__ import annotations

import asyncio
import logging

import pytest

from flotilla.runtime.kube import CONFIGMAPS, EVENTS, JsonObject, KubeClient
from workers.runtime.event_correlation import SPAM_BURST, EventCache
from workers.runtime.events import ObjectRef, emit_event


async def _events(kube: KubeClient, namespace: str, name: str) -> list[JsonObject]:
    listed = await kube.get(EVENTS.path(namespace), {"fieldSelector": f"involvedObject.name={name}"})
    return list(listed["items"])


async def _configmap(kube: KubeClient, namespace: str, name: str) -> ObjectRef:
    created = await kube.create(
        CONFIGMAPS.path(namespace), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    )
    return ObjectRef.of({**created, "apiVersion": "v1", "kind": "ConfigMap"})


async def test_identical_events_aggregate_into_one_with_count(kube: KubeClient, namespace: str) -> None:
    ref = await _configmap(kube, namespace, "ev")
    cache = EventCache()
    for _ in range(3):
        await emit_event(
            kube, ref, "ScaleUpLimited", "limited by maxSurge", "Warning", "flotilla-test", cache
        )

    events = await _events(kube, namespace, "ev")
    assert len(events) == 1
    (event,) = events
    assert event["count"] == 3
    assert (event["reason"], event["message"], event["type"]) == (
        "ScaleUpLimited",
        "limited by maxSurge",
        "Warning",
    )
    assert event["involvedObject"]["uid"] == ref.uid
    assert event["source"]["component"] == "flotilla-test"
    assert event["lastTimestamp"] >= event["firstTimestamp"]

    await emit_event(kube, ref, "ScaleUpLimited", "limited by partition", "Warning", "flotilla-test", cache)
    events = await _events(kube, namespace, "ev")
    assert sorted((e["message"], e["count"]) for e in events) == [
        ("limited by maxSurge", 3),
        ("limited by partition", 1),
    ]


async def test_deleted_cached_event_is_created_anew(kube: KubeClient, namespace: str) -> None:
    ref = await _configmap(kube, namespace, "gone")
    cache = EventCache()
    await emit_event(kube, ref, "SuccessfulCreate", "made it", "Normal", "flotilla-test", cache)
    (first,) = await _events(kube, namespace, "gone")
    await kube.delete(EVENTS.path(namespace, first["metadata"]["name"]))

    await emit_event(kube, ref, "SuccessfulCreate", "made it", "Normal", "flotilla-test", cache)
    await emit_event(kube, ref, "SuccessfulCreate", "made it", "Normal", "flotilla-test", cache)
    (second,) = await _events(kube, namespace, "gone")
    assert second["metadata"]["name"] != first["metadata"]["name"]
    assert second["count"] == 2


async def test_event_failure_is_logged_not_raised(
    kube: KubeClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    ref = ObjectRef("v1", "ConfigMap", namespace + "-missing", "x", uid="u")
    # the namespace does not exist: the API server refuses the Event; emit_event returns quietly
    with caplog.at_level(logging.WARNING, logger="flotilla.worker.events"):
        await emit_event(kube, ref, "SuccessfulCreate", "made it", "Normal", "flotilla-test", EventCache())
    assert any("could not record Event SuccessfulCreate" in r.getMessage() for r in caplog.records)


async def test_similar_events_are_combined_after_ten(kube: KubeClient, namespace: str) -> None:
    ref = await _configmap(kube, namespace, "many")
    cache = EventCache()
    for i in range(12):
        await emit_event(
            kube, ref, "SuccessfulCreate", f"succeed to create pod many-{i}", "Normal", "fl", cache
        )

    events = await _events(kube, namespace, "many")
    combined = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert len(events) == 10
    assert len(combined) == 1
    assert combined[0]["count"] == 3
    assert combined[0]["message"].endswith("succeed to create pod many-11")


async def test_concurrent_emits_share_one_event(kube: KubeClient, namespace: str) -> None:
    ref = await _configmap(kube, namespace, "burst")
    cache = EventCache()
    await asyncio.gather(*(emit_event(kube, ref, "Tick", "same", "Normal", "fl", cache) for _ in range(5)))
    await asyncio.gather(
        *(
            emit_event(kube, ref, "SuccessfulCreate", f"pod burst-{i}", "Normal", "fl", cache)
            for i in range(20)
        )
    )

    events = await _events(kube, namespace, "burst")
    assert [e["count"] for e in events if e["reason"] == "Tick"] == [5]
    created = [e for e in events if e["reason"] == "SuccessfulCreate"]
    assert len(created) == 10  # 9 separate, then one combined Event for the other 11
    assert sorted(e["count"] for e in created) == [1] * 9 + [11]


async def test_events_past_the_spam_burst_are_dropped(kube: KubeClient, namespace: str) -> None:
    """As client-go: 25 Events per source and object, then no more (one per 5 minutes)."""
    ref = await _configmap(kube, namespace, "spam")
    other = await _configmap(kube, namespace, "quiet")
    cache = EventCache()
    for i in range(SPAM_BURST + 5):
        await emit_event(kube, ref, f"Reason{i}", "same text", "Normal", "fl", cache)
    await emit_event(kube, other, "Reason0", "same text", "Normal", "fl", cache)

    assert len(await _events(kube, namespace, "spam")) == SPAM_BURST
    assert len(await _events(kube, namespace, "quiet")) == 1
