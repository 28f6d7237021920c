"""The JSON records kruise keeps in Pod annotations during an in-place update (``apps/pub``).

``apps.kruise.io/inplace-update-state`` (legacy key ``inplace-update-state``) holds an
:class:`InPlaceUpdateState`; ``apps.kruise.io/runtime-containers-meta`` holds a
:class:`RuntimeContainerMetaSet` reported by the node agent. Workers that update Pods in place
(CloneSet, Advanced StatefulSet, SidecarSet) read and write these with ``from_json`` / ``to_json``
so the annotations stay readable by kruise's own tools.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field

from schemas.kruise.base import Int32, KruiseModel, KubeObject, Time

LEGACY_INPLACE_UPDATE_STATE_ANNOTATION = "inplace-update-state"
LEGACY_INPLACE_UPDATE_GRACE_ANNOTATION = "inplace-update-grace"
RUNTIME_CONTAINERS_META_ANNOTATION = "apps.kruise.io/runtime-containers-meta"


class _AnnotationRecord(KruiseModel):
    def to_json(self) -> str:
        """The annotation value (compact JSON, camelCase)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, value: str) -> Self:
        """Parse an annotation value; raises ``pydantic.ValidationError`` on malformed JSON."""
        return cls.model_validate_json(value)


class InPlaceUpdateContainerStatus(KruiseModel):
    """A container's image before the update (a changed imageID means the update happened)."""

    image_id: str | None = Field(default=None, alias="imageID")
    """The container's imageID before the update."""


class InPlaceUpdatePreCheckBeforeNext(KruiseModel):
    """What must hold before the next batch of containers is updated."""

    containers_required_ready: list[str] | None = None
    """Containers that must be ready first."""


class InPlaceUpdateContainerBatch(KruiseModel):
    """One batch of containers patched in this revision."""

    timestamp: Time
    """When the batch was patched."""
    containers: list[str]
    """The containers of the batch."""


class InPlaceUpdateState(_AnnotationRecord):
    """The state of an in-place update of one Pod."""

    revision: str
    """The revision the Pod is being updated to."""
    update_timestamp: Time
    """When the in-place update started."""
    last_container_statuses: dict[str, InPlaceUpdateContainerStatus] | None = None
    """Container statuses before the update, by container name; null (kruise's nil map, no
    omitempty) until an update batch changes an image, ``{}`` in pods older Flotilla wrote."""
    update_env_from_metadata: bool = False
    """Env vars taken from labels/annotations are updated too."""
    update_resources: bool = False
    """Resources are updated."""
    update_images: bool = False
    """Images are updated."""
    next_container_images: dict[str, str] | None = None
    """Images of lower-priority containers waiting for a later batch."""
    next_container_ref_metadata: dict[str, KubeObject] | None = None
    """Metadata of lower-priority containers waiting for a later batch."""
    next_container_resources: dict[str, KubeObject] | None = None
    """Resources of lower-priority containers waiting for a later batch."""
    pre_check_before_next: InPlaceUpdatePreCheckBeforeNext | None = None
    """What must hold before the next batch."""
    container_batches_record: list[InPlaceUpdateContainerBatch] | None = None
    """The batches patched so far."""


class RuntimeContainerHashes(KruiseModel):
    """Hashes of a container's spec as the runtime sees it."""

    plain_hash: int = 0
    """Hash of the container spec (kubelet's)."""
    plain_hash_without_resources: int = 0
    """Hash of the container spec without resources."""
    extracted_env_from_metadata_hash: int | None = None
    """Hash with env-from-metadata resolved."""


class RuntimeContainerMeta(KruiseModel):
    """One running container as the node agent reports it."""

    name: str
    """Container name."""
    container_id: str = Field(alias="containerID")
    """Runtime container ID."""
    restart_count: Int32 = 0
    """Restart count."""
    hashes: RuntimeContainerHashes = Field(default_factory=RuntimeContainerHashes)
    """Spec hashes."""


class RuntimeContainerMetaSet(_AnnotationRecord):
    """The ``apps.kruise.io/runtime-containers-meta`` annotation."""

    containers: list[RuntimeContainerMeta]
    """The Pod's running containers."""
