"""ContainerRecreateRequest (``apps.kruise.io/v1alpha1``): restart named containers of a running Pod.

Follows kruise-api ``apps/v1alpha1/containerrecreaterequest_types.go``. Created by users (or by
workers); executed by the node agent on the Pod's node.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.kruise.base import (
    AGE_COLUMN,
    DEFAULTED,
    Bounds,
    Cel,
    Int32,
    Int64,
    KruiseModel,
    KruiseResource,
    KubeObject,
    ListMap,
    PrinterColumn,
    ResourceInfo,
    Time,
)

POD_UID_LABEL = "crr.apps.kruise.io/pod-uid"
NODE_NAME_LABEL = "crr.apps.kruise.io/node-name"
ACTIVE_LABEL = "crr.apps.kruise.io/active"

CrrPhase = Literal["Pending", "Recreating", "Succeeded", "Failed", "Completed"]


class ProbeHandler(KruiseModel):
    """An action run in the container (core/v1 exec, httpGet or tcpSocket)."""

    exec: KubeObject | None = None
    """A core/v1 ExecAction."""
    http_get: KubeObject | None = Field(default=None, alias="httpGet")
    """A core/v1 HTTPGetAction."""
    tcp_socket: KubeObject | None = None
    """A core/v1 TCPSocketAction."""


class ContainerRecreateRequestContainerContext(KruiseModel):
    """The container instance the request applies to (filled at creation)."""

    container_id: str = Field(alias="containerID")
    """The container's ID when the request was created."""
    restart_count: Int32 = 0
    """The container's restart count when the request was created."""


class ContainerRecreateRequestContainer(KruiseModel):
    """A container to recreate."""

    name: Annotated[str, Cel("self != ''", "container name must not be empty")]
    """Name of a container in the Pod."""
    pre_stop: ProbeHandler | None = None
    """preStop hook run before stopping (copied from the Pod at creation)."""
    ports: list[KubeObject] | None = None
    """core/v1 ContainerPorts of the container (copied from the Pod at creation)."""
    status_context: ContainerRecreateRequestContainerContext | None = None
    """The container instance the request applies to (filled at creation)."""


class ContainerRecreateRequestStrategy(KruiseModel):
    """How the containers are recreated."""

    failure_policy: Annotated[Literal["Fail", "Ignore"], DEFAULTED] = "Fail"
    """Fail (default: stop at the first container that fails) or Ignore."""
    ordered_recreate: bool = False
    """Recreate one container after the previous one finished (default: all at once)."""
    force_recreate: bool = False
    """Kill the container even if its previous instance is still starting."""
    termination_grace_period_seconds: Int64 | None = None
    """Grace period for stopping the container (default: the Pod's)."""
    unready_grace_period_seconds: Int64 | None = None
    """Seconds the Pod is kept NotReady (KruisePodReady False) before the container is stopped."""
    min_started_seconds: Int32 = 0
    """Seconds the new container must stay started to count as succeeded."""


class ContainerRecreateRequestSpec(KruiseModel):
    """The desired state of a ContainerRecreateRequest."""

    pod_name: Annotated[str, Cel("self != ''", "podName must not be empty")]
    """The Pod whose containers are recreated (same namespace)."""
    containers: Annotated[
        list[ContainerRecreateRequestContainer],
        Bounds(max_items=64),
        Cel("size(self) > 0", "containers must name at least one container"),
        ListMap(("name",)),
    ]
    """Containers to recreate."""
    strategy: Annotated[ContainerRecreateRequestStrategy, DEFAULTED] = Field(
        default_factory=ContainerRecreateRequestStrategy
    )
    """How the containers are recreated."""
    active_deadline_seconds: Int64 | None = None
    """Deadline for the whole request; unfinished containers are marked failed."""
    ttl_seconds_after_finished: Int32 | None = None
    """Seconds after completion when the request is deleted."""


class ContainerRecreateRequestContainerRecreateState(KruiseModel):
    """Progress of one container."""

    name: str
    """Container name."""
    phase: CrrPhase
    """Pending, Recreating, Succeeded, Failed or Completed."""
    message: str | None = None
    """Details."""
    is_killed: bool = False
    """The container has been stopped."""


class ContainerRecreateRequestStatus(KruiseModel):
    """The observed state of a ContainerRecreateRequest."""

    phase: CrrPhase | None = None
    """Pending, Recreating, Succeeded, Failed or Completed."""
    completion_time: Time | None = None
    """When the request finished."""
    message: str | None = None
    """Details."""
    container_recreate_states: list[ContainerRecreateRequestContainerRecreateState] | None = None
    """Progress of each container."""


class ContainerRecreateRequest(KruiseResource):
    """ContainerRecreateRequest restarts named containers of a running Pod in place."""

    info = ResourceInfo(
        group="apps.kruise.io",
        versions=("v1alpha1",),
        kind="ContainerRecreateRequest",
        plural="containerrecreaterequests",
        short_names=("crr",),
        printer_columns=(
            PrinterColumn("PHASE", "string", ".status.phase", "Phase of this ContainerRecreateRequest."),
            PrinterColumn("POD", "string", ".spec.podName", "Pod name of this ContainerRecreateRequest."),
            PrinterColumn(
                "NODE",
                "string",
                ".metadata.labels.crr\\.apps\\.kruise\\.io/node-name",
                "Node name of this ContainerRecreateRequest.",
            ),
            AGE_COLUMN,
        ),
    )

    spec: ContainerRecreateRequestSpec
    """The desired state of the ContainerRecreateRequest."""
    status: ContainerRecreateRequestStatus = Field(default_factory=ContainerRecreateRequestStatus)
    """The observed state of the ContainerRecreateRequest."""
