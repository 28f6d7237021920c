"""The puller syncs on a NodeImage spec change, not on its own status writes (kruise-daemon's
UpdateFunc: ``reflect.DeepEqual(old.Spec, new.Spec)`` -> skip), and a pull's end waits for the
next sync (kruise's workers only update the status its 3-5 s sync reads)."""

from __future__ import annotations

from typing import Any

import pytest

from nodeagent.imagepull.agent import ImagePullAgent
from nodeagent.imagepull.puller import PullTask

pytestmark = pytest.mark.unit


def node_image(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "node-1", "resourceVersion": "7"}, "spec": spec, "status": status or {}}


SPEC = {"images": {"busybox": {"tags": [{"tag": "v1", "version": 1}]}}}


def woken(agent: ImagePullAgent) -> bool:
    was = agent._wake.is_set()
    agent._wake.clear()
    return was


def test_only_a_spec_change_or_deletion_wakes_the_puller() -> None:
    agent = ImagePullAgent(kube=None, images=None, node="node-1")  # type: ignore[arg-type]
    agent._changed("/node-1", node_image(SPEC))
    assert woken(agent)  # first sight
    agent._changed("/node-1", node_image(SPEC, {"desired": 1, "pulling": 1}))
    assert not woken(agent)  # the agent's own status write coming back
    agent._changed("/node-1", node_image({"images": {"busybox": {"tags": [{"tag": "v2", "version": 1}]}}}))
    assert woken(agent)
    deleting = node_image(SPEC)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-30T14:00:00Z"
    agent._changed("/node-1", deleting)
    assert woken(agent)
    agent._changed("/node-1", None)
    assert woken(agent)


def test_a_pulls_report_is_kept_for_the_next_sync_without_waking_it() -> None:
    agent = ImagePullAgent(kube=None, images=None, node="node-1")  # type: ignore[arg-type]
    pull = PullTask(image="busybox", tag="v1", version=1)
    agent._tasks[("busybox", "v1")] = (1, None)  # type: ignore[assignment]
    agent._report(pull, {"tag": "v1", "phase": "Succeeded", "version": 1})
    assert agent.tags[("busybox", "v1")]["phase"] == "Succeeded"
    assert not woken(agent)
