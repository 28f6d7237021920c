"""The ImagePullJob worker shell, registered with the runtime as worker type ``imagepulljob``.

``observe`` reads the job (``apps.kruise.io/v1beta1``) and the NodeImages of its nodes
(``selector.names`` one by one, a label ``selector`` by a selected list, ``podSelector`` through
the nodes of the job namespace's matching active pods, else every NodeImage), and, when the job
has pull secrets to copy or copies to release, the daemon's namespace (``kruise-daemon-config``),
its Secrets and the job's source Secrets; ``plan`` runs :func:`workers.imagepulljob.planner.plan`;
the executor writes the pull-secret copies (create; merge patches and deletes with the read
resourceVersion), the job's finalizers (merge patch with the read resourceVersion), the
NodeImages' tags (merge patches with theirs; a conflict re-plans), then the status (PUT), or
deletes the job after its TTL.

The watcher maps every NodeImage change to every ImagePullJob (``every-key``): a job learns of
its nodes' pulls without a pod or node index; a pod starting on a new node (``podSelector``)
is seen at the job's next pass. A Secret maps to the ImagePullJobs of its namespace
(``same-namespace``), so a changed source Secret is copied again at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from flotilla.runtime.kube import PODS, Resource
from schemas.bus.envelope import KeyParts
from schemas.kruise.pub import LabelSelector
from workers.imagepulljob import planner
from workers.imagepulljob import secrets as pull_secrets
from workers.podmechanics.ownership import selector_string
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, TerminalError, WorkerType
from workers.runtime.observe import StateReader

IMAGEPULLJOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs", "ImagePullJob")
NODEIMAGES = Resource("apps.kruise.io", "v1beta1", "nodeimages", "NodeImage", namespaced=False)
SECRETS = Resource("", "v1", "secrets", "Secret")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
FIELD_MANAGER = "flotilla-imagepulljob"


class SecretsNotSynced(Exception):
    """The pull secrets cannot be copied yet (the daemon's namespace is missing): retried."""


@dataclass(frozen=True)
class Snapshot:
    namespace: str
    name: str
    observed: planner.Observed | None


@dataclass(frozen=True)
class Config:
    """The ImagePullJob planner has no tunables today."""


def _selector(raw: object, what: str) -> str:
    try:
        return selector_string(LabelSelector.model_validate(raw))
    except ValidationError as err:
        raise TerminalError(f"{what} is not a valid label selector: {err}") from err


def _active(pod: dict[str, object]) -> bool:
    status = pod.get("status") or {}
    phase = status.get("phase") if isinstance(status, dict) else None
    meta = pod.get("metadata") or {}
    deleting = isinstance(meta, dict) and bool(meta.get("deletionTimestamp"))
    spec = pod.get("spec") or {}
    return (
        phase not in ("Succeeded", "Failed")
        and not deleting
        and isinstance(spec, dict)
        and bool(spec.get("nodeName"))
    )


async def node_images_of(
    read: StateReader, job: dict[str, object], namespace: str
) -> list[dict[str, object]]:
    """``GetNodeImagesForJob``."""
    spec = job.get("spec") or {}
    assert isinstance(spec, dict)
    if spec.get("podSelector") is not None:
        pods = await read.list(PODS, namespace, label_selector=_selector(spec["podSelector"], "podSelector"))
        nodes: list[str] = []
        for pod in pods:
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if _active(pod) and node not in nodes:
                nodes.append(node)
        found = await asyncio.gather(*(read.get(NODEIMAGES, "", node) for node in nodes))
        return [n for n in found if n is not None]
    selector = spec.get("selector")
    if selector is None:
        return await read.list(NODEIMAGES, "")
    assert isinstance(selector, dict)
    if selector.get("names") is not None:
        found = await asyncio.gather(*(read.get(NODEIMAGES, "", str(n)) for n in selector["names"]))
        return [n for n in found if n is not None]
    labels = {k: v for k, v in selector.items() if k != "names"}
    return await read.list(NODEIMAGES, "", label_selector=_selector(labels, "selector"))


async def secrets_of(read: StateReader, job: dict[str, Any]) -> pull_secrets.SecretsObserved | None:
    """What ``syncJobPullSecrets`` reads: nothing for a running job without pull secrets, a
    finished one without the protection finalizer, or a job in the daemon's namespace."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    finishing = bool(meta.get("deletionTimestamp")) or bool(status.get("completionTime"))
    names = [str(n) for n in spec.get("pullSecrets") or ()] if not finishing else []
    namespace = pull_secrets.daemon_namespace()
    if finishing and planner.PROTECTION_FINALIZER not in (meta.get("finalizers") or ()):
        return None
    if (not finishing and not names) or meta.get("namespace") == namespace:
        return None
    found, copies = await asyncio.gather(read.get(NAMESPACES, "", namespace), read.list(SECRETS, namespace))
    sources = await asyncio.gather(*(read.get(SECRETS, str(meta.get("namespace")), name) for name in names))
    state = "Missing"
    if found is not None:
        state = "Terminating" if (found.get("metadata") or {}).get("deletionTimestamp") else "Active"
    return pull_secrets.SecretsObserved(
        namespace, state, tuple(copies), dict(zip(names, sources, strict=True))
    )


async def observe(read: StateReader, key: KeyParts) -> Snapshot:
    job = await read.get(IMAGEPULLJOBS, key.namespace, key.name)
    if job is None:
        return Snapshot(key.namespace, key.name, None)
    meta = job.get("metadata") or {}
    secrets = await secrets_of(read, job)
    if meta.get("deletionTimestamp") or (job.get("status") or {}).get("completionTime"):
        return Snapshot(key.namespace, key.name, planner.Observed(job, (), secrets))
    node_images = tuple(await node_images_of(read, job, key.namespace))
    return Snapshot(key.namespace, key.name, planner.Observed(job, node_images, secrets))


def _secret_action(action: pull_secrets.SecretAction, namespace: str) -> runtime.Action:
    match action:
        case pull_secrets.CreateCopy(body):
            return runtime.CreateObject(SECRETS, namespace, body)
        case pull_secrets.PatchCopy(name, patch):
            return runtime.PatchObject(SECRETS, namespace, name, patch)
        case pull_secrets.DeleteCopy(name, uid, resource_version):
            return runtime.DeleteObject(SECRETS, namespace, name, uid=uid, resource_version=resource_version)


def plan(snapshot: Snapshot, _config: Config, now: float) -> Plan:
    if snapshot.observed is None:
        return Plan(reason="ImagePullJob is gone")
    job = snapshot.observed.job
    decided = planner.plan(snapshot.observed, now)
    if decided.error:
        raise TerminalError(f"ImagePullJob {snapshot.namespace}/{snapshot.name}: {decided.error}")
    if decided.retry:
        raise SecretsNotSynced(f"ImagePullJob {snapshot.namespace}/{snapshot.name}: {decided.retry}")
    meta = job.get("metadata") or {}
    observed_secrets = snapshot.observed.secrets
    daemon = observed_secrets.namespace if observed_secrets else pull_secrets.daemon_namespace()
    actions: list[runtime.Action] = [_secret_action(a, daemon) for a in decided.secrets]
    if decided.finalizers is not None:
        patch = {
            "metadata": {"resourceVersion": meta.get("resourceVersion"), "finalizers": decided.finalizers}
        }
        actions.append(runtime.PatchObject(IMAGEPULLJOBS, snapshot.namespace, snapshot.name, patch))
    if decided.delete:
        uid = str(meta.get("uid", ""))
        actions.append(runtime.DeleteObject(IMAGEPULLJOBS, snapshot.namespace, snapshot.name, uid=uid))
    actions.extend(runtime.PatchObject(NODEIMAGES, "", w.name, w.patch) for w in decided.node_images)
    if decided.status is not None:
        body = {**job, "status": decided.status}
        actions.append(runtime.UpdateStatus(IMAGEPULLJOBS, snapshot.namespace, snapshot.name, body))
    return Plan(tuple(actions), decided.requeue_after, decided.reason)


WORKER: WorkerType[Snapshot, Config] = WorkerType(
    name="imagepulljob",
    kind="ImagePullJob",
    resource=IMAGEPULLJOBS,
    observe=observe,
    plan=plan,
    config=Config(),
    has_status=True,
    field_manager=FIELD_MANAGER,
)
