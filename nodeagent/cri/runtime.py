"""The container runtime, over CRI (``runtime.v1.RuntimeService``) with the generated stubs.

The three calls the node agent needs, as kruise-daemon's ``kuberuntime`` makes them: the
containers of a Pod (``ListContainers`` by the kubelet's pod-uid label, then
``ContainerStatus`` of each, with the kubelet's restart count and spec hash), ``ExecSync`` (a
preStop exec hook, ``env`` for containermeta) and ``StopContainer`` (with a grace period).
grpc's asyncio channel on the unix socket; stubs from :mod:`nodeagent.cri.stubs`. Every call's
latency goes to ``flotilla_node_agent_cri_call_duration_seconds`` (method, gRPC code).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from flotilla.runtime.metrics import CRI_CALL_DURATION
from nodeagent.cri import stubs
from nodeagent.crr.daemon import RuntimeContainer

POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"
HASH_ANNOTATION = "io.kubernetes.container.hash"

_STATES = {0: "created", 1: "running", 2: "exited", 3: "unknown"}


class CriError(RuntimeError):
    """A CRI call failed; the message names the call and the runtime's answer; ``code`` is the
    gRPC status code's name (``NOT_FOUND``) and ``details`` the runtime's own text."""

    def __init__(self, message: str, code: str = "", details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class RuntimeImage:
    """An image the runtime holds (CRI ``Image``): its ID and the names it is known by."""

    id: str
    repo_tags: tuple[str, ...]


def _time(nanoseconds: int) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(nanoseconds / 1e9, dt.UTC) if nanoseconds else None


class CriRuntime:
    """One gRPC channel to the runtime's socket (``unix:///run/containerd/containerd.sock``)."""

    def __init__(self, endpoint: str, runtime_name: str = "containerd") -> None:
        self._api, grpc_api = stubs.load()
        target = endpoint if "://" in endpoint else f"unix://{endpoint}"
        self._channel = grpc.aio.insecure_channel(target)
        self._service: Any = grpc_api.RuntimeServiceStub(self._channel)
        self._images: Any = grpc_api.ImageServiceStub(self._channel)
        self.runtime_name = runtime_name

    async def close(self) -> None:
        await self._channel.close()

    async def version(self) -> str:
        """``<runtime name> <version>``: the runtime answers (health check)."""
        reply = await self._call("Version", self._api.VersionRequest())
        return f"{reply.runtime_name} {reply.runtime_version}"

    async def _call(self, method: str, request: Any, deadline: float = 10.0, service: Any = None) -> Any:
        started = time.monotonic()
        code = "OK"
        try:
            return await getattr(service or self._service, method)(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
            details = exc.details() or ""
            raise CriError(f"CRI {method}: {code}: {details}", code, details) from exc
        finally:
            CRI_CALL_DURATION.labels(method, code).observe(time.monotonic() - started)

    async def pod_containers(self, pod_uid: str) -> list[RuntimeContainer]:
        """Every container instance of the Pod the runtime still knows, with its status."""
        flt = self._api.ContainerFilter(label_selector={POD_UID_LABEL: pod_uid})
        listed = await self._call("ListContainers", self._api.ListContainersRequest(filter=flt))
        out = []
        for container in listed.containers:
            reply = await self._call(
                "ContainerStatus", self._api.ContainerStatusRequest(container_id=container.id)
            )
            status = reply.status
            try:
                restarts = int(status.annotations.get(RESTART_COUNT_ANNOTATION, "0"))
            except ValueError:
                restarts = 0
            try:  # hex, as the kubelet writes it (strconv.FormatUint(hash, 16))
                plain_hash = int(status.annotations.get(HASH_ANNOTATION, "0"), 16)
            except ValueError:
                plain_hash = 0
            out.append(
                RuntimeContainer(
                    name=status.labels.get(CONTAINER_NAME_LABEL, ""),
                    container_id=f"{self.runtime_name}://{status.id}",
                    state=_STATES.get(int(status.state), "unknown"),
                    restart_count=restarts,
                    created_at=_time(status.created_at) or dt.datetime.fromtimestamp(0, dt.UTC),
                    started_at=_time(status.started_at) if int(status.state) != 0 else None,
                    plain_hash=plain_hash,
                )
            )
        return out

    async def exec_sync(
        self, container_id: str, command: list[str], timeout_seconds: int
    ) -> tuple[int, bytes]:
        """Run a command in the container; (exit code, stdout + stderr)."""
        request = self._api.ExecSyncRequest(
            container_id=_bare(container_id), cmd=command, timeout=timeout_seconds
        )
        reply = await self._call("ExecSync", request, deadline=timeout_seconds + 5)
        return int(reply.exit_code), bytes(reply.stdout) + bytes(reply.stderr)

    async def stop_container(self, container_id: str, grace_seconds: int) -> None:
        """Stop the container (SIGTERM, SIGKILL after the grace period); the kubelet restarts it."""
        request = self._api.StopContainerRequest(container_id=_bare(container_id), timeout=grace_seconds)
        await self._call("StopContainer", request, deadline=grace_seconds + 30)


def _bare(container_id: str) -> str:
    """``containerd://abc`` -> ``abc``."""
    return container_id.partition("://")[2] or container_id


class CriImages:
    """``runtime.v1.ImageService`` on the runtime's channel: the calls kruise-daemon's puller makes."""

    def __init__(self, runtime: CriRuntime) -> None:
        self._runtime = runtime

    async def list_images(self) -> list[RuntimeImage]:
        api = self._runtime._api
        reply = await self._runtime._call(
            "ListImages", api.ListImagesRequest(), service=self._runtime._images
        )
        return [RuntimeImage(str(i.id), tuple(str(t) for t in i.repo_tags)) for i in reply.images]

    async def pull_image(
        self,
        ref: str,
        seconds: float,
        auth: tuple[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> str:
        """Pull ``ref`` (``name:tag``) within ``seconds``; the runtime's image reference.

        As kruise-daemon: the sandbox config carries the labels and annotations given plus
        ``apps.kruise.io/pulling-image-by: kruise-daemon`` (kruise's annotation, so runtimes that
        need a sandbox config get one)."""
        api = self._runtime._api
        notes = {**(annotations or {}), PULLING_ANNOTATION: "kruise-daemon"}
        request = api.PullImageRequest(
            image=api.ImageSpec(image=ref),
            sandbox_config=api.PodSandboxConfig(labels=dict(labels or {}), annotations=notes),
        )
        if auth is not None:
            request.auth.CopyFrom(api.AuthConfig(username=auth[0], password=auth[1]))
        reply = await self._runtime._call(
            "PullImage", request, deadline=seconds, service=self._runtime._images
        )
        return str(reply.image_ref)


#: kruise's ``pullingImageSandboxConfigAnno``.
PULLING_ANNOTATION = "apps.kruise.io/pulling-image-by"
