"""The NodeImage worker shell, registered with the runtime as worker type ``nodeimage``.

Keys are node names (the NodeImage is cluster-scoped and named after its Node; the watcher maps
a Node to the key of the same name). ``observe`` reads the Node, the NodeImage, each ImagePullJob
a tag names as owner and each pull secret the spec names; ``plan`` runs
:func:`workers.nodeimage.planner.plan`; the default executor performs the one write (create,
delete, spec merge patch with the read resourceVersion, or status PUT) and the Events.

``FLOTILLA_NODEIMAGE_CREATION_DELAY`` (seconds, default 30) is kruise's
``--nodeimage-creation-delay``: how long a Node must be Ready before its NodeImage is made.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from flotilla.runtime.kube import Resource
from schemas.bus.envelope import KeyParts
from workers.nodeimage import planner
from workers.runtime import actions as runtime
from workers.runtime.contract import Plan, WorkerType
from workers.runtime.events import ObjectRef
from workers.runtime.observe import StateReader

NODEIMAGES = Resource("apps.kruise.io", "v1beta1", "nodeimages", "NodeImage", namespaced=False)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
IMAGEPULLJOBS = Resource("apps.kruise.io", "v1beta1", "imagepulljobs", "ImagePullJob")
SECRETS = Resource("", "v1", "secrets", "Secret")
FIELD_MANAGER = "flotilla-nodeimage"
CREATION_DELAY_ENV = "FLOTILLA_NODEIMAGE_CREATION_DELAY"


@dataclass(frozen=True)
class Config:
    creation_delay: float = planner.DEFAULT_CREATION_DELAY


def _config_from_env() -> Config:
    raw = os.environ.get(CREATION_DELAY_ENV, "")
    try:
        return Config(float(raw)) if raw else Config()
    except ValueError:
        raise SystemExit(f"{CREATION_DELAY_ENV}={raw!r}: expected a number of seconds") from None


async def observe(read: StateReader, key: KeyParts) -> planner.Observed:
    node, node_image = await asyncio.gather(read.get(NODES, "", key.name), read.get(NODEIMAGES, "", key.name))
    jobs: dict[tuple[str, str], object] = {}
    secrets: dict[tuple[str, str], bool] = {}
    images = ((node_image or {}).get("spec") or {}).get("images") or {}
    for image_spec in images.values():
        for tag in image_spec.get("tags") or ():
            for ref in tag.get("ownerReferences") or ():
                if planner.owner_is_job(ref):
                    jobs[(str(ref.get("namespace") or ""), str(ref.get("name") or ""))] = None
        for ref in image_spec.get("pullSecrets") or ():
            if ref.get("mode") != "batch":
                secrets[(str(ref.get("namespace") or ""), str(ref.get("name") or ""))] = False
    found_jobs = await asyncio.gather(*(read.get(IMAGEPULLJOBS, ns, name) for ns, name in jobs))
    found_secrets = await asyncio.gather(*(read.get(SECRETS, ns, name) for ns, name in secrets))
    return planner.Observed(
        key.name,
        node,
        node_image,
        dict(zip(jobs, found_jobs, strict=True)),
        {k: v is not None for k, v in zip(secrets, found_secrets, strict=True)},
    )


def _ref(involved: dict[str, object]) -> ObjectRef:
    return ObjectRef(
        str(involved.get("apiVersion", "")),
        str(involved.get("kind", "")),
        str(involved.get("namespace", "") or ""),
        str(involved.get("name", "")),
        str(involved.get("uid", "") or ""),
    )


def plan(obs: planner.Observed, config: Config, now: float) -> Plan:
    decided = planner.plan(obs, now, config.creation_delay)
    actions: list[runtime.Action] = []
    if decided.create is not None:
        actions.append(runtime.CreateObject(NODEIMAGES, "", decided.create))
    if decided.delete and obs.node_image is not None:
        uid = str((obs.node_image.get("metadata") or {}).get("uid", ""))
        actions.append(runtime.DeleteObject(NODEIMAGES, "", obs.name, uid=uid))
    if decided.spec_patch is not None:
        actions.append(runtime.PatchObject(NODEIMAGES, "", obs.name, decided.spec_patch))
    actions.extend(runtime.EmitEvent(_ref(e.involved), e.reason, e.message, e.type) for e in decided.events)
    if decided.status is not None and obs.node_image is not None:
        body = {**obs.node_image, "status": decided.status}
        actions.append(runtime.UpdateStatus(NODEIMAGES, "", obs.name, body))
    return Plan(tuple(actions), decided.requeue_after, decided.reason)


WORKER: WorkerType[planner.Observed, Config] = WorkerType(
    name="nodeimage",
    kind="NodeImage",
    resource=NODEIMAGES,
    observe=observe,
    plan=plan,
    config=_config_from_env(),
    has_status=False,
    field_manager=FIELD_MANAGER,
)
