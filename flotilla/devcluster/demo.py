"""What `make demo` runs on top of the local control plane: Flotilla, a sample CloneSet, a
sample Advanced StatefulSet and a sample UnitedDeployment over the three zones.

`start_flotilla` installs the kruise CRDs, starts the watcher, one CloneSet worker, one
Advanced StatefulSet worker, one UnitedDeployment worker and one SidecarSet worker as detached
processes (logs in ``<run dir>/logs/``; their pids join the run's state so `flotilla dev down`
stops them), each signed in to NATS as its own least-privilege user (the watcher first: it
declares the streams), with ``webhook=True`` (``flotilla dev up``) also ``flotilla webhook``
registered by URL on loopback (the chart's registrations, namespace ``flotilla-system``,
deletion protection on), and applies ``examples/demo/cloneset.yaml``,
``examples/demo/statefulset.yaml`` and ``examples/demo/uniteddeployment.yaml``; with the webhook,
``examples/demo/sidecarset.yaml`` first (a SidecarSet the webhook injects into the CloneSet's pods).
`show_rollout` then drives the samples through what a user would do — wait for the CloneSet to
be Ready, scale it 3 -> 5, roll its image in place; upgrade the injected sidecar in place; wait
for the StatefulSet's ordinals 0, 2, 3, roll its image above the partition; wait for the
UnitedDeployment's subsets 1 / 3 / 2 Ready, each pod in its zone — printing each step, so the
demo proves Flotilla reconciles rather than just starting.

With the real node (``flotilla dev up --real-node``, ``make demo REAL_NODE=1``), `start_node_agent`
then runs ``flotilla node-agent`` for it and `show_container_recreate` applies
``examples/demo/realnode.yaml`` (a CloneSet of 2 busybox pods on the node) and restarts one pod's
container with a ContainerRecreateRequest, showing its phases, ``containerRecreateStates`` and
the container's restartCount and new containerID.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from flotilla.devcluster import realnode
from flotilla.devcluster.agentcreds import node_agent_kubeconfig
from flotilla.devcluster.env import DevEnvironment
from flotilla.devcluster.kwok_nodes import ZONE_LABEL
from flotilla.devcluster.ports import LOOPBACK, free_port
from flotilla.devcluster.process import ComponentError, ManagedProcess
from flotilla.devcluster.webhook import rendered_registrations, webhook_args
from schemas.bus.permissions import WATCHER_USER, worker_user

#: The namespace the ImagePullJob worker copies pull secrets into (kruise's default) and its variable.
DAEMON_CONFIG, DAEMON_CONFIG_ENV = "kruise-daemon-config", "KRUISE_DAEMON_CONFIG_NS"

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "cloneset.yaml"
STS_SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "statefulset.yaml"
STS_SAMPLE_NAME = "demo-web"
STS_KIND = "statefulsets.apps.kruise.io"
UD_SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "uniteddeployment.yaml"
UD_SAMPLE_NAME = "demo-zones"
UD_KIND = "uniteddeployments.apps.kruise.io"
#: The sample UnitedDeployment's subsets: replicas and the zone (topology.kubernetes.io/zone) each runs in.
UD_SUBSETS = {"zone-a": (1, "a"), "zone-b": (3, "b"), "zone-c": (2, "c")}
SC_SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "sidecarset.yaml"
SC_SAMPLE_NAME = "demo-log-agent"
SC_KIND = "sidecarsets.apps.kruise.io"
SC_ROLLED_IMAGE = "busybox:1.37"
#: The demo's workers; ``containerlaunchpriority`` opens the barriers the webhook injects into pods
#: with container launch priorities (without it such a pod's containers never start).
WORKER_TYPES = ("cloneset", "statefulset", "uniteddeployment", "sidecarset", "containerlaunchpriority")
CRDS = Path(__file__).resolve().parents[2] / "charts" / "flotilla" / "crds"
SAMPLE_NAME = "demo"
SAMPLE_NAMESPACE = "default"
ROLLED_IMAGE = "nginx:1.27"


def _say(message: str) -> None:
    print(f"[flotilla] {message}", file=sys.stderr, flush=True)


def _flotilla_process(
    env: DevEnvironment,
    name: str,
    args: list[str],
    extra_env: dict[str, str],
    nats_user: str | None,
    detached: bool = True,
) -> int:
    http_port = free_port()
    process_env = dict(os.environ)
    process_env.update(
        KUBECONFIG=str(env.kubeconfig),
        FLOTILLA_HTTP_PORT=str(http_port),
        OTEL_SERVICE_NAME=f"flotilla-{name}",
        **extra_env,
    )
    if nats_user is not None:  # None: the process needs no NATS (the webhook)
        process_env["NATS_URL"] = env.nats.user_url(nats_user) if env.nats is not None else env.nats_url
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "flotilla.cli", *args],
        env.run_dir / "logs" / f"{name}.log",
        env=process_env,
        detached=detached,
    )
    process.start()
    process.wait_until(lambda: _http_ok(f"http://{LOOPBACK}:{http_port}/readyz"), 60, "ready (/readyz)")
    assert process.pid is not None
    env.extra_pids[name] = process.pid
    _say(f"{name} is up (metrics: http://{LOOPBACK}:{http_port}/metrics)")
    return http_port


WEBHOOK_NAMESPACE = "flotilla-system"
#: kruise's defaults, plus deletion protection so the demo shows it (FLOTILLA_FEATURE_GATES overrides).
WEBHOOK_GATES = "ResourcesDeletionProtection=true"


def start_webhook(env: DevEnvironment, extra_env: dict[str, str], detached: bool = True) -> None:
    """Register the chart's webhooks and run ``flotilla webhook`` for them on loopback."""
    env.kubectl("create", "namespace", WEBHOOK_NAMESPACE, check=False)
    env.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rendered_registrations(WEBHOOK_NAMESPACE)))
    gates = (
        extra_env.get("FLOTILLA_FEATURE_GATES") or os.environ.get("FLOTILLA_FEATURE_GATES") or WEBHOOK_GATES
    )
    args = webhook_args(WEBHOOK_NAMESPACE, free_port(), env.kubeconfig)
    args += ["--feature-gates", gates, "--crd-conversion"]
    _flotilla_process(env, "webhook", args, extra_env, None, detached)
    _say(f"the admission webhook is registered (gates: {gates})")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def start_flotilla(
    env: DevEnvironment,
    extra_env: dict[str, str] | None = None,
    *,
    sample: bool = True,
    detached: bool = True,
    webhook: bool = False,
    worker_types: Sequence[str] = WORKER_TYPES,
) -> None:
    """Install the CRDs, start the watcher and one worker of each of `worker_types` (the demo's
    by default), apply the sample (unless `sample` is False; `make conformance` runs kruise's
    specs instead, with the workers of the kinds it runs). Processes that are not `detached`
    die with the caller."""
    extra = extra_env or {}
    env.kubectl("apply", "--server-side", "-f", str(CRDS))
    env.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    _say("kruise CRDs installed")
    if "imagepulljob" in worker_types:
        # where the ImagePullJob worker copies pull secrets (workers/imagepulljob/secrets.py; the
        # chart's daemonConfigNamespace)
        daemon_config = extra.get(DAEMON_CONFIG_ENV) or os.environ.get(DAEMON_CONFIG_ENV) or DAEMON_CONFIG
        env.kubectl("create", "namespace", daemon_config, check=False)
    _flotilla_process(
        env,
        "watcher",
        [
            "watcher",
            "--types",
            ",".join(worker_types),
            "--lease-namespace",
            "default",
            "--lease-name",
            "flotilla-dev",
        ],
        extra,
        WATCHER_USER,
        detached,
    )
    for worker_type in worker_types:
        _flotilla_process(
            env, f"worker-{worker_type}", ["worker", worker_type], extra, worker_user(worker_type), detached
        )
    if webhook:
        start_webhook(env, extra, detached)
    if not sample:
        return
    if webhook:  # injection is the webhook's: the SidecarSet comes first, then the pods it injects
        env.kubectl("apply", "--server-side", "-f", str(SC_SAMPLE))
        _wait(
            env,
            "the sample SidecarSet observed",
            lambda s: s.get("observedGeneration") == 1,
            kind=SC_KIND,
            name=SC_SAMPLE_NAME,
            summary=_sidecar_summary,
        )
    env.kubectl("apply", "--server-side", "-n", SAMPLE_NAMESPACE, "-f", str(SAMPLE))
    _say(f"applied the sample CloneSet {SAMPLE_NAMESPACE}/{SAMPLE_NAME} from {SAMPLE}")
    env.kubectl("apply", "--server-side", "-n", SAMPLE_NAMESPACE, "-f", str(STS_SAMPLE))
    _say(f"applied the sample Advanced StatefulSet {SAMPLE_NAMESPACE}/{STS_SAMPLE_NAME} from {STS_SAMPLE}")
    env.kubectl("apply", "--server-side", "-n", SAMPLE_NAMESPACE, "-f", str(UD_SAMPLE))
    _say(f"applied the sample UnitedDeployment {SAMPLE_NAMESPACE}/{UD_SAMPLE_NAME} from {UD_SAMPLE}")


def _object(env: DevEnvironment, kind: str, name: str) -> dict[str, Any]:
    out = env.kubectl("get", kind, name, "-n", SAMPLE_NAMESPACE, "-o", "json").stdout
    found: dict[str, Any] = json.loads(out)
    return found


def _status(env: DevEnvironment, kind: str, name: str) -> dict[str, object]:
    status: dict[str, object] = _object(env, kind, name).get("status") or {}
    return status


def _wait(
    env: DevEnvironment,
    what: str,
    check: Callable[[dict[str, object]], bool],
    timeout: float = 120,
    kind: str = "cloneset",
    name: str = SAMPLE_NAME,
    summary: Callable[[dict[str, object]], str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = _status(env, kind, name)
        if check(status):
            _say(f"  {what}: {(summary or _summary)(status)}")
            return
        time.sleep(1)
    raise ComponentError(f"the sample {kind} did not get {what} within {timeout:.0f}s; status: {status}")


def _summary(status: dict[str, object]) -> str:
    keys = ("replicas", "readyReplicas", "updatedReplicas", "updatedReadyReplicas")
    return ", ".join(f"{k}={status.get(k, 0)}" for k in keys)


def _sidecar_summary(status: dict[str, object]) -> str:
    keys = ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods")
    return ", ".join(f"{k}={status.get(k, 0)}" for k in keys)


def show_sidecar_upgrade(env: DevEnvironment, pods: int) -> None:
    """The sample SidecarSet's sidecar, injected into the sample CloneSet's `pods`, upgraded in
    place to a new image: the SidecarSet worker patches the sidecar's image, nginx keeps running."""
    _say("the sample SidecarSet upgrades its sidecar in place (watch it: kubectl get sidecarsets -w):")

    def all_of(s: dict[str, object]) -> bool:
        return all(s.get(k) == pods for k in ("matchedPods", "updatedPods", "readyPods", "updatedReadyPods"))

    _wait(
        env,
        f"log-agent injected into {pods} pods",
        all_of,
        kind=SC_KIND,
        name=SC_SAMPLE_NAME,
        summary=_sidecar_summary,
    )
    # a merge patch replaces the containers list: read it, change the image, write it back
    sidecarset = _object(env, SC_KIND, SC_SAMPLE_NAME)
    containers = sidecarset["spec"]["containers"]
    for container in containers:
        if container["name"] == "log-agent":
            container["image"] = SC_ROLLED_IMAGE
    patch = json.dumps({"spec": {"containers": containers}})
    env.kubectl("patch", SC_KIND, SC_SAMPLE_NAME, "--type=merge", "-p", patch)
    generation = _object(env, SC_KIND, SC_SAMPLE_NAME)["metadata"]["generation"]
    _wait(
        env,
        f"sidecar upgraded in place to {SC_ROLLED_IMAGE}",
        lambda s: s.get("observedGeneration") == generation and all_of(s),
        timeout=120,
        kind=SC_KIND,
        name=SC_SAMPLE_NAME,
        summary=_sidecar_summary,
    )


def show_rollout(env: DevEnvironment) -> None:
    """Scale the sample 3 -> 5, then roll its image in place, waiting on each step."""
    _say("the sample CloneSet reconciles (watch it: kubectl get clonesets -w):")
    _wait(env, "3 pods Ready", lambda s: s.get("readyReplicas") == 3 and s.get("replicas") == 3)
    env.kubectl("scale", f"cloneset/{SAMPLE_NAME}", "-n", SAMPLE_NAMESPACE, "--replicas=5")
    _wait(env, "scaled to 5 Ready", lambda s: s.get("readyReplicas") == 5)
    patch = json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": ROLLED_IMAGE}]}}}}
    )
    before = _status(env, "cloneset", SAMPLE_NAME).get("updateRevision")
    env.kubectl("patch", "cloneset", SAMPLE_NAME, "-n", SAMPLE_NAMESPACE, "--type=merge", "-p", patch)
    # a new update revision first: the status of before the patch already reads "all updated"
    _wait(
        env,
        f"rolled in place to {ROLLED_IMAGE}",
        lambda s: (
            s.get("updateRevision") != before
            and s.get("updatedReadyReplicas") == 5
            and s.get("updateRevision") == s.get("currentRevision")
        ),
        timeout=180,
    )
    show_sidecar_upgrade(env, 5)
    _say("the sample Advanced StatefulSet reconciles (watch it: kubectl get statefulsets.apps.kruise.io -w):")
    _wait(
        env,
        "ordinals 0, 2, 3 Ready one by one",
        lambda s: s.get("readyReplicas") == 3,
        kind=STS_KIND,
        name=STS_SAMPLE_NAME,
    )
    pods = env.kubectl(
        "get", "pods", "-n", SAMPLE_NAMESPACE, "-l", f"app={STS_SAMPLE_NAME}", "-o", "name"
    ).stdout.split()
    _say(f"  its pods: {' '.join(sorted(p.split('/')[-1] for p in pods))}")
    patch = json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": ROLLED_IMAGE}]}}}}
    )
    before = _status(env, STS_KIND, STS_SAMPLE_NAME).get("updateRevision")
    env.kubectl(
        "patch",
        "statefulsets.apps.kruise.io",
        STS_SAMPLE_NAME,
        "-n",
        SAMPLE_NAMESPACE,
        "--type=merge",
        "-p",
        patch,
    )
    _wait(
        env,
        f"recreated to {ROLLED_IMAGE} above partition 1",
        lambda s: (
            s.get("updateRevision") != before
            and s.get("updatedReplicas") == 2
            and s.get("readyReplicas") == 3
        ),
        timeout=180,
        kind=STS_KIND,
        name=STS_SAMPLE_NAME,
    )
    show_zones(env)
    show_protection(env)


#: The namespace the demo protects with kruise's label and then tries to delete.
PROTECTED_NAMESPACE = "demo-protected"
PROTECTION_LABEL = "policy.kruise.io/delete-protection"


def show_protection(env: DevEnvironment) -> None:
    """Label a namespace ``policy.kruise.io/delete-protection=Always`` and show that
    ``kubectl delete ns`` of it is refused by the webhook with kruise's message (the namespace
    stays: remove the label to delete it)."""
    env.kubectl("create", "namespace", PROTECTED_NAMESPACE, check=False)
    env.kubectl("label", "namespace", PROTECTED_NAMESPACE, f"{PROTECTION_LABEL}=Always", "--overwrite")
    refused = env.kubectl("delete", "namespace", PROTECTED_NAMESPACE, "--wait=false", check=False)
    if refused.returncode == 0:
        raise ComponentError(
            f"namespace {PROTECTED_NAMESPACE} labelled {PROTECTION_LABEL}=Always was deleted: "
            "the webhook's deletion protection did not refuse it"
        )
    _say(f"kubectl delete ns {PROTECTED_NAMESPACE} ({PROTECTION_LABEL}=Always) is refused:")
    _say(f"  {refused.stderr.strip()}")


def pod_zones(env: DevEnvironment) -> dict[str, list[str]]:
    """The zone of the node each of the sample UnitedDeployment's pods runs on, by subset."""
    nodes = json.loads(env.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    zone_of = {n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE_LABEL, "") for n in nodes}
    out = env.kubectl("get", "pods", "-n", SAMPLE_NAMESPACE, "-l", f"app={UD_SAMPLE_NAME}", "-o", "json")
    zones: dict[str, list[str]] = {}
    for pod in json.loads(out.stdout)["items"]:
        subset = pod["metadata"]["labels"].get("apps.kruise.io/subset-name", "")
        zones.setdefault(subset, []).append(zone_of.get(pod["spec"].get("nodeName", ""), "unscheduled"))
    return {subset: sorted(found) for subset, found in sorted(zones.items())}


def show_zones(env: DevEnvironment) -> None:
    """Wait for the sample UnitedDeployment's subsets to be Ready, then show each pod's zone."""
    _say(
        "the sample UnitedDeployment spreads over the zones"
        " (watch it: kubectl get uniteddeployments,clonesets -w):"
    )
    wanted = {name: replicas for name, (replicas, _) in UD_SUBSETS.items()}
    _wait(
        env,
        "subsets zone-a 1, zone-b 3 (50%), zone-c 2 (the rest) Ready",
        lambda s: s.get("readyReplicas") == sum(wanted.values()) and s.get("subsetReplicas") == wanted,
        kind=UD_KIND,
        name=UD_SAMPLE_NAME,
    )
    zones = pod_zones(env)
    for subset, found in zones.items():
        _say(f"  {subset}: {len(found)} pod(s) on nodes in zone {', '.join(sorted(set(found)))}")
    expected = {name: [zone] * replicas for name, (replicas, zone) in UD_SUBSETS.items()}
    if zones != expected:
        raise ComponentError(f"the sample UnitedDeployment's pods are not in their zones: {zones}")


#: ``make demo REAL_NODE=1``: the CloneSet on the real node, its container name, the request's name.
REAL_SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo" / "realnode.yaml"
REAL_SAMPLE_NAME = "demo-real"
REAL_CONTAINER = "main"
CRR_NAME = "demo-restart"
CRR_KIND = "containerrecreaterequests.apps.kruise.io"


def start_node_agent(
    env: DevEnvironment, extra_env: dict[str, str] | None = None, detached: bool = True
) -> None:
    """``flotilla node-agent`` for the real node (its containerd's CRI socket; signed in with the
    chart's least-privilege RBAC, `agentcreds`), detached like the workers."""
    args = ["node-agent", "--node-name", realnode.NODE_NAME, "--cri-endpoint", realnode.cri_endpoint()]
    args += ["--kubeconfig", str(node_agent_kubeconfig(env))]
    _flotilla_process(env, "node-agent", args, extra_env or {}, None, detached)


def _container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    found: dict[str, Any] = next((s for s in statuses if s.get("name") == REAL_CONTAINER), {})
    return found


def crr_manifest(pod: str) -> dict[str, Any]:
    """The request as a user writes it: the webhook adds the labels and each container's statusContext."""
    return {
        "apiVersion": "apps.kruise.io/v1alpha1",
        "kind": "ContainerRecreateRequest",
        "metadata": {"name": CRR_NAME, "namespace": SAMPLE_NAMESPACE},
        "spec": {
            "podName": pod,
            "containers": [{"name": REAL_CONTAINER}],
            "strategy": {"failurePolicy": "Fail", "minStartedSeconds": 1},
            "ttlSecondsAfterFinished": 600,
        },
    }


def show_container_recreate(env: DevEnvironment) -> None:
    """The sample CloneSet on the real node (2 busybox pods), then a ContainerRecreateRequest for one
    pod's container: the node agent stops it through the CRI, the kubelet starts it again (restartCount
    +1, a new containerID, the same pod), the request ends ``Completed`` with the container
    ``Succeeded``."""
    env.kubectl("apply", "--server-side", "-n", SAMPLE_NAMESPACE, "-f", str(REAL_SAMPLE))
    _say(f"applied the CloneSet {SAMPLE_NAMESPACE}/{REAL_SAMPLE_NAME} on the real node from {REAL_SAMPLE}")
    _wait(
        env,
        f"2 pods Ready in real containers on {realnode.NODE_NAME}",
        lambda s: s.get("readyReplicas") == 2,
        timeout=180,
        name=REAL_SAMPLE_NAME,
    )
    listed = env.kubectl("get", "pods", "-n", SAMPLE_NAMESPACE, "-l", f"app={REAL_SAMPLE_NAME}", "-o", "json")
    pod = sorted(json.loads(listed.stdout)["items"], key=lambda p: str(p["metadata"]["name"]))[0]
    name, before = pod["metadata"]["name"], _container_status(pod)
    _say(
        f"  pod {name} on {pod['spec']['nodeName']}: container {REAL_CONTAINER} "
        f"restartCount={before.get('restartCount')} containerID={before.get('containerID', '')[:25]}..."
    )
    env.kubectl("delete", CRR_KIND, CRR_NAME, "-n", SAMPLE_NAMESPACE, "--ignore-not-found")
    env.kubectl("create", "-f", "-", input=json.dumps(crr_manifest(name)))
    _say(f"created the ContainerRecreateRequest {CRR_NAME} for {name}/{REAL_CONTAINER} (kubectl get crr -w):")
    deadline = time.monotonic() + 120
    crr: dict[str, Any] = {}
    phases: list[str] = []
    while time.monotonic() < deadline:
        crr = _object(env, CRR_KIND, CRR_NAME)
        phase = str((crr.get("status") or {}).get("phase", ""))
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
            _say(f"  phase {phase}")
        if (crr.get("status") or {}).get("completionTime"):
            break
        time.sleep(0.5)
    status = crr.get("status") or {}
    states = status.get("containerRecreateStates") or []
    if not status.get("completionTime"):
        raise ComponentError(
            f"the ContainerRecreateRequest {CRR_NAME} did not complete within 120s: {status}"
        )
    _say(f"  completed: phase {status.get('phase')}, containerRecreateStates {json.dumps(states)}")

    def restarted() -> dict[str, Any]:
        now = _container_status(_object(env, "pod", name))
        again = now.get("restartCount") == before.get("restartCount", 0) + 1 and now.get("ready")
        return now if again and now.get("containerID") != before.get("containerID") else {}

    after: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while not after and time.monotonic() < deadline:
        after = restarted()
        time.sleep(0.5)
    if status.get("phase") != "Completed" or [s.get("phase") for s in states] != ["Succeeded"] or not after:
        raise ComponentError(
            f"the ContainerRecreateRequest did not restart {name}/{REAL_CONTAINER}: status {status}, "
            f"container now {_container_status(_object(env, 'pod', name))}"
        )
    _say(
        f"  pod {name}: container {REAL_CONTAINER} restartCount={after['restartCount']} "
        f"containerID={after['containerID'][:25]}... (same pod, uid {pod['metadata']['uid']})"
    )
