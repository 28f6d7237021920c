"""The reads handlers' ``gather`` functions make (:class:`webhook.dispatch.Cluster`), over the API.

Paged lists (500 a page) counting what kruise's deletion protection counts: active pods
(``IsPodActive``: not Succeeded, not Failed, not being deleted), Bound claims not being deleted,
custom resources not being deleted; SidecarSets and kruise's configuration ConfigMap from the
process's caches (:mod:`webhook.sidecarsetcache`) once they have synced (a direct read before);
a SidecarSet's pinned ControllerRevision by an exact GET (``revisionName``) or a label-selected
list (``customVersion``) in the namespace the SidecarSet worker keeps them in
(``revision_namespace``; kruise keeps them in kruise-manager's). Errors are the
:mod:`flotilla.runtime.errors` hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flotilla.runtime.errors import NotFound
from flotilla.runtime.kube import CONFIGMAPS, PODS, JsonObject, KubeClient, Resource
from webhook.sidecarsetcache import SidecarSetCache, WatchCache

CLAIMS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
SIDECARSETS = Resource("apps.kruise.io", "v1beta1", "sidecarsets", "SidecarSet")
PUBS = Resource("policy.kruise.io", "v1alpha1", "podunavailablebudgets", "PodUnavailableBudget")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
CONTROLLER_REVISIONS = Resource("apps", "v1", "controllerrevisions", "ControllerRevision")
#: kruise's ``kruise-configuration`` ConfigMap (``configuration.KruiseConfigurationName``) in
#: kruise's namespace (``util.GetKruiseNamespace``: kruise-system by default).
KRUISE_CONFIGURATION = ("kruise-system", "kruise-configuration")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
STORAGE_CLASSES = Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)
_DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
_PAGE = "500"


def _deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


class KubeCluster:
    """``sidecarsets``: the process's SidecarSet cache; once synced, a pod CREATE reads the
    SidecarSets from it (before that, and without one, they are listed). The SidecarSet conflict
    check lists them fresh: a SidecarSet created a moment ago must count (rare writes)."""

    def __init__(
        self,
        kube: KubeClient,
        sidecarsets: SidecarSetCache | None = None,
        *,
        revision_namespace: str = "default",
        configuration: tuple[str, str] = KRUISE_CONFIGURATION,
        configuration_cache: WatchCache | None = None,
    ) -> None:
        self.kube = kube
        self.sidecarsets = sidecarsets
        self.revision_namespace = revision_namespace
        self.configuration = configuration
        self.configuration_cache = configuration_cache

    async def _count(self, path: str, keep: Callable[[dict[str, Any]], bool]) -> int:
        count, token = 0, ""
        while True:
            params = {"limit": _PAGE, **({"continue": token} if token else {})}
            page = await self.kube.get(path, params)
            count += sum(1 for item in page.get("items") or [] if isinstance(item, dict) and keep(item))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return count

    async def active_pods(self, namespace: str) -> int:
        def active(pod: dict[str, Any]) -> bool:
            phase = (pod.get("status") or {}).get("phase")
            return phase not in ("Succeeded", "Failed") and not _deleting(pod)

        return await self._count(PODS.collection_path(namespace), active)

    async def bound_claims(self, namespace: str) -> int:
        def bound(claim: dict[str, Any]) -> bool:
            return (claim.get("status") or {}).get("phase") == "Bound" and not _deleting(claim)

        return await self._count(CLAIMS.collection_path(namespace), bound)

    async def live_custom_resources(self, group: str, version: str, plural: str) -> int:
        resource = Resource(group, version, plural)
        return await self._count(resource.collection_path(None), lambda obj: not _deleting(obj))

    async def read_pod(self, namespace: str, name: str) -> JsonObject | None:
        try:
            return await self.kube.get(PODS.path(namespace, name))
        except NotFound:
            return None

    async def read_node(self, name: str) -> JsonObject | None:
        try:
            return await self.kube.get(NODES.path("", name))
        except NotFound:
            return None

    async def list_pubs(self, namespace: str) -> list[JsonObject]:
        return await self._list(PUBS.collection_path(namespace))

    async def read_storage_class(self, name: str) -> JsonObject | None:
        if name:
            try:
                return await self.kube.get(STORAGE_CLASSES.path("", name))
            except NotFound:
                return None
        listing = await self.kube.get(STORAGE_CLASSES.collection_path(None))
        defaults = [
            c
            for c in listing.get("items") or []
            if ((c.get("metadata") or {}).get("annotations") or {}).get(_DEFAULT_CLASS_ANNOTATION) == "true"
        ]
        return max(defaults, key=lambda c: str(c["metadata"].get("creationTimestamp", "")), default=None)

    async def list_sidecarsets(self) -> list[JsonObject]:
        return await self._list(SIDECARSETS.collection_path(None))

    async def injection_sidecarsets(self) -> list[JsonObject]:
        if self.sidecarsets is not None and self.sidecarsets.synced:
            return self.sidecarsets.items()
        return await self.list_sidecarsets()

    async def _list(self, path: str) -> list[JsonObject]:
        items: list[JsonObject] = []
        token = ""
        while True:
            params = {"limit": _PAGE, **({"continue": token} if token else {})}
            page = await self.kube.get(path, params)
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return items

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        try:
            found = await self.kube.get(NAMESPACES.path("", namespace))
        except NotFound:
            return {}
        labels = (found.get("metadata") or {}).get("labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    async def read_controller_revision(self, name: str) -> JsonObject | None:
        try:
            return await self.kube.get(CONTROLLER_REVISIONS.path(self.revision_namespace, name))
        except NotFound:
            return None

    async def list_controller_revisions(self, label_selector: str) -> list[JsonObject]:
        path = CONTROLLER_REVISIONS.collection_path(self.revision_namespace)
        listing = await self.kube.get(path, {"labelSelector": label_selector})
        return [item for item in listing.get("items") or [] if isinstance(item, dict)]

    async def kruise_configuration(self) -> dict[str, str] | None:
        namespace, name = self.configuration
        found: JsonObject | None
        if self.configuration_cache is not None and self.configuration_cache.synced:
            found = self.configuration_cache.get(name)
        else:
            try:
                found = await self.kube.get(CONFIGMAPS.path(namespace, name))
            except NotFound:
                found = None
        if found is None:
            return None
        return {str(k): str(v) for k, v in (found.get("data") or {}).items()}

    async def spend_pod_budget(self, operation: str, pod: JsonObject, dry_run: bool, in_place: bool) -> str:
        from workers.podunavailablebudget.admission import PubOperation
        from workers.podunavailablebudget.admit import admit

        decision = await admit(
            self.kube, PubOperation(operation), pod, dry_run=dry_run, in_place_vertical_scaling=in_place
        )
        return "" if decision.allowed else decision.message
