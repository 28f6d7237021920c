"""In-place change of a label an env reads (kruise ``InPlaceUpdateEnvFromMetadata``).

Expected hashes are kruise's own: ``extractedEnvFromMetadataHash`` computed by a Go program with
kruise v1.9.1's ``hashEnvs`` (``pkg/util/containermeta/env_hash.go``: FNV-32a of
``dump.ForHash(json.Marshal(envs))``, k8s.io/apimachinery v0.32.10), run once by hand; the values
are written out below, never computed by the code under test.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.kruise.cloneset import CloneSet
from tests.unit.cloneset.cloneset_builders import NOW, cloneset, patched, pod, rev_name, revision, run
from workers.cloneset.config import PlannerConfig
from workers.podmechanics.kube_json import format_time

STATE = "apps.kruise.io/inplace-update-state"
META = "apps.kruise.io/runtime-containers-meta"
LIFECYCLE = "lifecycle.apps.kruise.io/state"
ENV_FROM_LABEL = {"name": "TEST_ENV", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['test-env']"}}}


def _cs(value: str, *, current: str | None = None, reader: bool = True) -> CloneSet:
    wire = cloneset(
        1,
        strategy={"type": "InPlaceIfPossible"},
        template_labels={"app": "web", "test-env": value},
        status={"currentRevision": current} if current else None,
    ).to_wire()
    if reader:
        wire["spec"]["template"]["spec"]["containers"][0]["env"] = [ENV_FROM_LABEL]  # type: ignore[index]
    return CloneSet.from_wire(wire)


def _rollout(reader: bool = True) -> tuple[CloneSet, str, str, list[dict[str, Any]]]:
    old_cs = _cs("foo", reader=reader)
    new_cs = _cs("bar", current=rev_name(old_cs), reader=reader)
    return new_cs, rev_name(old_cs), rev_name(new_cs), [revision(old_cs, 1), revision(new_cs, 2)]


def _start(config: PlannerConfig | None = None, reader: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    cs, old, _new, revs = _rollout(reader)
    p = pod("web-a", old, labels={"test-env": "foo"})
    [write] = patched(run(cs, [p], revs, config=config))["web-a"]
    return dict(write), orjson.loads(write["metadata"]["annotations"][STATE])  # type: ignore[index]


def test_label_read_by_an_env_is_updated_in_place_and_recorded_for_the_container() -> None:
    write, state = _start()
    assert "spec" not in write, "no image changes"
    assert write["metadata"]["labels"]["test-env"] == "bar"
    assert write["metadata"]["labels"][LIFECYCLE] == "Updating"
    assert state["updateEnvFromMetadata"] is True
    assert state["lastContainerStatuses"] is None, "no image changed: kruise's nil map, null in the JSON"
    assert "updateImages" not in state
    assert state["containerBatchesRecord"] == [{"timestamp": state["updateTimestamp"], "containers": ["app"]}]


def test_label_nobody_reads_is_a_plain_metadata_update() -> None:
    write, state = _start(reader=False)
    assert write["metadata"]["labels"]["test-env"] == "bar"
    assert "updateEnvFromMetadata" not in state
    assert state["containerBatchesRecord"] == [{"timestamp": state["updateTimestamp"], "containers": []}]


def test_gate_off_records_no_env_update() -> None:
    _write, state = _start(PlannerConfig(in_place_update_env_from_metadata=False))
    assert "updateEnvFromMetadata" not in state


def _updating(meta: dict[str, Any] | None, *, env_update: bool = True) -> dict[str, Any]:
    _cloneset, _old, new, _revs = _rollout()
    state: dict[str, Any] = {"revision": new, "updateTimestamp": format_time(NOW)}
    state["lastContainerStatuses"] = {}
    if env_update:
        state["updateEnvFromMetadata"] = True
    annotations = {STATE: orjson.dumps(state).decode()}
    if meta is not None:
        annotations[META] = orjson.dumps(meta).decode()
    p = pod("web-a", new, state="Updating", labels={"test-env": "bar"}, annotations=annotations)
    p["spec"]["containers"][0]["env"] = [ENV_FROM_LABEL]
    p["status"]["containerStatuses"][0]["containerID"] = "containerd://c2"
    return p


def _meta(container_id: str, env_hash: int) -> dict[str, Any]:
    hashes = {"plainHash": 1, "extractedEnvFromMetadataHash": env_hash}
    return {"containers": [{"name": "app", "containerID": container_id, "restartCount": 1, "hashes": hashes}]}


@pytest.mark.parametrize(
    ("meta", "env_update", "done"),
    [
        (None, True, False),  # no kruise-daemon report (kwok, or the daemon is down): stays Updating
        (_meta("containerd://c1", 3944769931), True, False),  # reported for the old container
        (_meta("containerd://c2", 27323935), True, False),  # restarted with the old value (foo)
        (_meta("containerd://c2", 3944769931), True, True),  # restarted with test-env=bar
        (None, False, True),  # a metadata update without env: done at once
    ],
)
def test_updating_ends_only_when_the_container_runs_with_the_new_value(
    meta: dict[str, Any] | None, env_update: bool, done: bool
) -> None:
    cs, _old, _new, revs = _rollout()
    writes = patched(run(cs, [_updating(meta, env_update=env_update)], revs)).get("web-a", [])
    states = [
        w["metadata"]["labels"][LIFECYCLE]
        for w in writes
        if LIFECYCLE in w.get("metadata", {}).get("labels", {})
    ]  # type: ignore[index, attr-defined, operator]
    assert states == (["Normal"] if done else [])
