"""Fake nodes for the local control plane: the kwok configuration and the Node objects.

kwok (run by `cluster.py`) plays the kubelet for nodes carrying the
``kwok.x-k8s.io/node=fake`` annotation, driven by the Stages written here: a node turns
Ready; a scheduled pod turns Running and Ready (with every readiness gate the pod
declares; the gates' conditions belong to controllers, and Ready follows them as the
kubelet's does); a container whose spec image changed is restarted with the new image
(the kubelet's half of an in-place update); a deleted pod goes away; a Job's pod
completes; a pod annotated ``kwok.flotilla.dev/finish`` ends as asked. Tests add their own Stages through `ClusterConfig.kwok_stages`.

By default every Stage plays at once: a bound pod is Ready as soon as kwok sees it. A
`KubeletDelays` (``ClusterConfig.kubelet_delays``) charges what a kubelet charges: a Stage
``delay`` on the pod start (sandbox, image pull, container start) and on the in-place
container restart. kwok arms a Stage's delay when it sees the pod and re-arms it on every
later change of the pod while the Stage is still pending, so a controller's write in that
window postpones the Stage (a kubelet would not restart the container for it). Deletion
stays immediate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from flotilla.devcluster.cluster import LocalCluster

MANAGED_ANNOTATION = "kwok.x-k8s.io/node"
ZONE_LABEL = "topology.kubernetes.io/zone"
NODE_NAME_PREFIX = "kwok-node-"


@dataclass(frozen=True)
class KubeletDelays:
    """What the fake kubelet charges, in milliseconds (kwok Stage delays).

    ``pod_start_ms``: from a pod bound to a node until it runs and is Ready (sandbox, image
    pull, container start). ``container_restart_ms``: from a container's image change until it
    runs the new image (an in-place update's restart). ``jitter_ms``: each delay that is not 0
    gets a uniformly random extra in [0, jitter_ms) (kwok's ``jitterDurationMilliseconds`` is
    the upper bound, rendered as delay + jitter)."""

    pod_start_ms: int = 0
    container_restart_ms: int = 0
    jitter_ms: int = 0

    def __post_init__(self) -> None:
        for name in ("pod_start_ms", "container_restart_ms", "jitter_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"KubeletDelays.{name} must be >= 0, not {getattr(self, name)}")

    def describe(self) -> str:
        """One line for a report: "pod start 2000 ms, container restart 500 ms (+ jitter ...)"."""
        if not (self.pod_start_ms or self.container_restart_ms):
            return "none (a bound pod is Ready at once, an image swap is immediate)"
        text = f"pod start {self.pod_start_ms} ms, container restart {self.container_restart_ms} ms"
        return text + (f", + 0-{self.jitter_ms} ms jitter each" if self.jitter_ms else "")


def stage_delay(milliseconds: int, jitter_ms: int = 0) -> dict[str, int] | None:
    """A Stage's ``spec.delay`` (kwok v1alpha1 StageDelay), or None for no delay."""
    if milliseconds <= 0:
        return None
    delay = {"durationMilliseconds": milliseconds}
    if jitter_ms > 0:
        delay["jitterDurationMilliseconds"] = milliseconds + jitter_ms
    return delay


_NODE_READY_STATUS = """\
{{ $now := Now }}
conditions:
- {type: Ready, status: "True", reason: KubeletReady, message: "kwok fake kubelet is ready",
   lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
- {type: MemoryPressure, status: "False", reason: KubeletHasSufficientMemory, message: "",
   lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
- {type: DiskPressure, status: "False", reason: KubeletHasNoDiskPressure, message: "",
   lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
- {type: PIDPressure, status: "False", reason: KubeletHasSufficientPID, message: "",
   lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
addresses:
{{ with NodeIP }}- {type: InternalIP, address: {{ . | Quote }}}{{ end }}
{{ with NodeName }}- {type: Hostname, address: {{ . | Quote }}}{{ end }}
nodeInfo:
  architecture: amd64
  operatingSystem: linux
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: ""
  kubeProxyVersion: ""
  osImage: ""
  machineID: ""
  systemUUID: ""
  bootID: ""
phase: Running
"""

#: Go-template lines computing $ready the way the kubelet does: every readiness gate the
#: pod declares must have a True condition (containers are always ready under kwok).
_READINESS = """\
{{ $root := . }}
{{ $ready := true }}
{{ range .spec.readinessGates }}{{ $gate := .conditionType }}{{ $found := false }}
{{ range $root.status.conditions }}{{ if and (eq .type $gate) (eq .status "True") }}{{ $found = true }}{{ end }}{{ end }}
{{ if not $found }}{{ $ready = false }}{{ end }}{{ end }}
"""

_READY_CONDITION = """\
- {type: Ready, status: {{ if $ready }}"True"{{ else }}"False"{{ end }}, lastTransitionTime: {{ $now | Quote }}{{ if not $ready }}, reason: ReadinessGatesNotReady{{ end }}}
"""


_CONTAINER_STATUSES = """\
containerStatuses:
{{ range $c := .spec.containers }}
{{ $restarts := 0 }}{{ $swapped := false }}
{{ range $root.status.containerStatuses }}{{ if eq .name $c.name }}{{ $restarts = .restartCount }}{{ if ne .image $c.image }}{{ $swapped = true }}{{ end }}{{ end }}{{ end }}
- name: {{ $c.name | Quote }}
  image: {{ $c.image | Quote }}
  imageID: {{ printf "kwok://%s" $c.image | Quote }}
  ready: true
  started: true
  restartCount: {{ if $swapped }}{{ add $restarts 1 }}{{ else }}{{ $restarts }}{{ end }}
  state: {running: {startedAt: {{ $now | Quote }}}}
{{ end }}
"""

_IMAGE_ID_LINE = '  imageID: {{ printf "kwok://%s" $c.image | Quote }}\n'

#: A container's ID, ``kwok://<pod uid>/<name>/<restart count>``: it changes when the
#: container restarts, as a runtime's does.
_CONTAINER_ID_LINE = (
    '  containerID: {{ if $swapped }}{{ printf "kwok://%s/%s/%v" $root.metadata.uid $c.name (add $restarts 1)'
    ' | Quote }}{{ else }}{{ printf "kwok://%s/%s/%v" $root.metadata.uid $c.name $restarts | Quote }}{{ end }}\n'
)


def _container_statuses(container_ids: bool) -> str:
    """``containerStatuses`` lines, with a ``containerID`` per container when asked."""
    if not container_ids:
        return _CONTAINER_STATUSES
    return _CONTAINER_STATUSES.replace(_IMAGE_ID_LINE, _IMAGE_ID_LINE + _CONTAINER_ID_LINE)


def _pod_running_status(container_ids: bool) -> str:
    return _POD_RUNNING_STATUS.replace(_CONTAINER_STATUSES, _container_statuses(container_ids))


_POD_RUNNING_STATUS = (
    "{{ $now := Now }}\n"
    + _READINESS
    + """\
phase: Running
startTime: {{ $now | Quote }}
conditions:
- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
"""
    + _READY_CONDITION
    + _CONTAINER_STATUSES
    + """\
{{ with NodeIPsWith .spec.nodeName }}hostIP: {{ index . 0 | Quote }}{{ end }}
{{ with PodIPsWith .spec.nodeName (or .spec.hostNetwork false) (or .metadata.uid "") (or .metadata.name "") (or .metadata.namespace "") }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}- {ip: {{ . | Quote }}}
{{ end }}{{ end }}
"""
)

#: The kubelet's part of an in-place update: a container whose spec image changed is
#: restarted with the new image (new imageID, restartCount + 1).
_IMAGE_SWAP_STATUS = "{{ $now := Now }}\n" + _READINESS + _CONTAINER_STATUSES

#: The kubelet's readiness: Ready follows the readiness gates' conditions.
_READINESS_STATUS = "{{ $now := Now }}\n" + _READINESS + "conditions:\n" + _READY_CONDITION

#: jq: does Ready disagree with the readiness gates?
_READINESS_MISMATCH = (
    "((.spec.readinessGates // []) | map(.conditionType)) as $gates"
    ' | ([.status.conditions[]? | select(.status == "True") | .type]) as $true'
    ' | ((($gates - $true) | length) == 0) != ($true | index("Ready") != null)'
)

#: jq: does some container run another image than its spec asks for?
_IMAGE_MISMATCH = "([.spec.containers[] | {(.name): .image}] | add) != ([.status.containerStatuses[]? | {(.name): .image}] | add)"

_POD_SUCCEEDED_STATUS = """\
{{ $now := Now }}
phase: Succeeded
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state: {terminated: {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}
{{ end }}
"""

#: A test asks the fake kubelet to finish a running pod: the pod annotation ``FINISH_ANNOTATION``
#: ``Succeeded`` or ``Failed`` ends every container with exit code 0 or 1 and sets that phase
#: (test infrastructure: no controller reads the annotation).
FINISH_ANNOTATION = "kwok.flotilla.dev/finish"

_POD_FINISHED_STATUS = """\
{{ $now := Now }}
{{ $phase := index .metadata.annotations "kwok.flotilla.dev/finish" }}
phase: {{ $phase }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  started: false
  restartCount: 0
  state: {terminated: {exitCode: {{ if eq $phase "Succeeded" }}0{{ else }}1{{ end }}, reason: {{ if eq $phase "Succeeded" }}Completed{{ else }}Error{{ end }}, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}}
{{ end }}
"""


def _stage(
    name: str,
    kind: str,
    match: list[dict[str, object]],
    next_step: dict[str, object],
    delay: dict[str, int] | None = None,
) -> dict[str, object]:
    spec: dict[str, object] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": match},
    }
    if delay is not None:
        spec["delay"] = delay
    spec["next"] = next_step
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": {"name": name}, "spec": spec}


def owned_pod_complete_stage(name: str, owner_kind: str) -> dict[str, object]:
    """A Stage ending every running pod owned by an `owner_kind` with exit code 0 (phase
    Succeeded), as a kubelet does once a run-to-completion container exits."""
    return _stage(
        name,
        "Pod",
        [
            {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
            {"key": ".status.phase", "operator": "In", "values": ["Running"]},
            {"key": ".metadata.ownerReferences.[].kind", "operator": "In", "values": [owner_kind]},
        ],
        {"statusTemplate": _POD_SUCCEEDED_STATUS},
    )


def default_stages(
    delays: KubeletDelays | None = None, *, container_ids: bool = False
) -> list[dict[str, object]]:
    """Flotilla's node and pod lifecycle for kwok (see the module docstring); ``delays``
    delays the pod start and the in-place container restart; ``container_ids`` gives the
    containers IDs that change on restart."""
    delays = delays or KubeletDelays()
    ready_status = '.status.conditions.[] | select( .type == "Ready" ) | .status'
    not_deleted: dict[str, object] = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
    return [
        _stage(
            "flotilla-node-ready",
            "Node",
            [{"key": ready_status, "operator": "NotIn", "values": ["True"]}],
            {"statusTemplate": _NODE_READY_STATUS},
        ),
        _stage(
            "flotilla-pod-running",
            "Pod",
            [
                not_deleted,
                {"key": ".spec.nodeName", "operator": "Exists"},
                {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
            ],
            {"statusTemplate": _pod_running_status(container_ids)},
            stage_delay(delays.pod_start_ms, delays.jitter_ms),
        ),
        _stage(
            "flotilla-pod-image-swap",
            "Pod",
            [
                not_deleted,
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {"key": _IMAGE_MISMATCH, "operator": "In", "values": ["true"]},
            ],
            {
                "statusTemplate": _IMAGE_SWAP_STATUS.replace(
                    _CONTAINER_STATUSES, _container_statuses(container_ids)
                )
            },
            stage_delay(delays.container_restart_ms, delays.jitter_ms),
        ),
        _stage(
            "flotilla-pod-readiness",
            "Pod",
            [
                not_deleted,
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {"key": _READINESS_MISMATCH, "operator": "In", "values": ["true"]},
            ],
            {"statusTemplate": _READINESS_STATUS},
        ),
        owned_pod_complete_stage("flotilla-job-pod-complete", "Job"),
        _stage(
            "flotilla-pod-finish-on-request",
            "Pod",
            [
                not_deleted,
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {
                    "key": f'.metadata.annotations["{FINISH_ANNOTATION}"]',
                    "operator": "In",
                    "values": ["Succeeded", "Failed"],
                },
            ],
            {"statusTemplate": _POD_FINISHED_STATUS},
        ),
        _stage(
            "flotilla-pod-delete",
            "Pod",
            [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
            {"delete": True},
        ),
    ]


def write_kwok_config(
    run_dir: Path,
    extra_stages: Sequence[Mapping[str, object]],
    _qps: float | None,
    delays: KubeletDelays | None = None,
    *,
    container_ids: bool = False,
) -> Path:
    """Write kwok's configuration (options + Stages) and return its path."""
    options = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "nodeLeaseDurationSeconds": 40,
            "nodeLeaseParallelism": 4,
            "podPlayStageParallelism": 16,
            "nodePlayStageParallelism": 4,
            "podsOnNodeSyncParallelism": 4,
        },
    }
    documents: list[Mapping[str, object]] = [
        options,
        *default_stages(delays, container_ids=container_ids),
        *extra_stages,
    ]
    path = run_dir / "kwok.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def node_manifest(index: int, zone: str, pods: int, name: str | None = None) -> dict[str, object]:
    """A fake node kwok manages: ``<prefix><index>``, or `name` where a spec expects one."""
    name = name or f"{NODE_NAME_PREFIX}{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {MANAGED_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                ZONE_LABEL: zone,
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": str(pods)},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": str(pods)},
        },
    }


def create_nodes(cluster: LocalCluster, count: int, zones: Sequence[str], pods: int) -> None:
    """Create `count` fake nodes spread over `zones` (skipping ones that exist)."""
    import urllib.error

    for index in range(count):
        manifest = node_manifest(index, zones[index % len(zones)], pods)
        try:
            cluster.api_request("POST", "/api/v1/nodes", manifest)
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise


def node_ready(node: Mapping[str, object]) -> bool:
    status = node.get("status")
    conditions = status.get("conditions", []) if isinstance(status, dict) else []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
