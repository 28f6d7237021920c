"""The in-place update annotations parse from and render to kruise's JSON."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas.kruise.inplace import InPlaceUpdateState, RuntimeContainerMetaSet

KRUISE_STATE = (
    '{"revision":"web-7c9d8f","updateTimestamp":"2025-03-04T05:06:07Z",'
    '"lastContainerStatuses":{"nginx":{"imageID":"docker.io/library/nginx@sha256:abc"}},'
    '"updateImages":true,"containerBatchesRecord":[{"timestamp":"2025-03-04T05:06:07Z","containers":["nginx"]}]}'
)


def test_inplace_update_state_round_trip() -> None:
    state = InPlaceUpdateState.from_json(KRUISE_STATE)
    assert state.revision == "web-7c9d8f"
    assert state.last_container_statuses is not None
    assert state.last_container_statuses["nginx"].image_id == "docker.io/library/nginx@sha256:abc"
    assert state.update_images is True
    out = json.loads(state.to_json())
    assert out["lastContainerStatuses"] == {"nginx": {"imageID": "docker.io/library/nginx@sha256:abc"}}
    assert out["updateTimestamp"] == "2025-03-04T05:06:07Z"
    assert InPlaceUpdateState.from_json(state.to_json()) == state


def test_runtime_containers_meta() -> None:
    meta = RuntimeContainerMetaSet.from_json(
        '{"containers":[{"name":"nginx","containerID":"containerd://1","restartCount":2,'
        '"hashes":{"plainHash":123,"plainHashWithoutResources":456}}]}'
    )
    assert meta.containers[0].hashes.plain_hash_without_resources == 456
    assert meta.containers[0].restart_count == 2


def test_malformed_annotation_raises() -> None:
    with pytest.raises(ValidationError):
        InPlaceUpdateState.from_json("{not json")


@pytest.mark.parametrize(("last", "parsed"), [("null", None), ("{}", {})])
def test_inplace_update_state_reads_null_and_empty_last_statuses(last: str, parsed: object) -> None:
    """kruise writes a nil ``LastContainerStatuses`` as null (apis/apps/pub/inplace_update.go:60,
    no omitempty) until a batch changes an image; Flotilla before that wrote ``{}``."""
    state = InPlaceUpdateState.from_json(
        f'{{"revision":"web-7c9d8f","updateTimestamp":"2025-03-04T05:06:07Z","lastContainerStatuses":{last},'
        '"updateEnvFromMetadata":true}'
    )
    assert state.last_container_statuses == parsed
    assert state.update_env_from_metadata is True
