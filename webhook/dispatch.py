"""The dispatch table: which handler answers a request, by path and (group, kind, operation).

A :class:`Route` is a pure handler ``(request, config, facts) -> Verdict`` plus, when the decision
needs cluster state (how many active pods a namespace still has), a ``gather`` coroutine that
reads just that into :class:`Facts` first. The server (:mod:`webhook.server`) calls
:func:`admit`; the handler modules contribute their routes to :data:`MUTATING` and
:data:`VALIDATING`. A request no route matches is answered with a clear 400, never a crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import jsonpatch

from flotilla.runtime.errors import KubeError
from flotilla.runtime.features import FeatureGates, feature_gates
from webhook.review import AdmissionRequest, JsonObject, Verdict, denied

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdmissionConfig:
    """What a handler may consult besides the request: kruise's feature gates (``--feature-gates``)."""

    gates: FeatureGates

    @classmethod
    def defaults(cls) -> AdmissionConfig:
        return cls(gates=feature_gates())


@dataclass(frozen=True)
class Facts:
    """Cluster state a handler's ``gather`` read for it (None: not read).

    ``error`` is the message to refuse with when a read failed (kruise refuses then too)."""

    active_pods: int | None = None
    bound_claims: int | None = None
    live_custom_resources: int | None = None
    #: Pods by name (None: not found), for the kruise kinds' rules that check pods.
    pods: Mapping[str, JsonObject | None] | None = None
    #: The PodUnavailableBudgets of the request's namespace (kruise's PUB conflict check).
    pubs: Sequence[JsonObject] | None = None
    #: StorageClasses by name ("": the default one; None: not found), for a claim-template resize.
    storage_classes: Mapping[str, JsonObject | None] | None = None
    #: Nodes by name (None: not found): a ContainerRecreateRequest's pod's Node.
    nodes: Mapping[str, JsonObject | None] | None = None
    #: Every SidecarSet of the cluster (pod injection, the SidecarSet conflict check).
    sidecarsets: Sequence[JsonObject] | None = None
    #: The labels of the request's namespace (a SidecarSet's namespaceSelector).
    namespace_labels: Mapping[str, str] | None = None
    #: When the facts were read (the time an injection records).
    now: dt.datetime | None = None
    #: The ControllerRevision each SidecarSet with an ``injectionStrategy.revision`` pins, by
    #: SidecarSet name (None: not found).
    revisions: Mapping[str, JsonObject | None] | None = None
    #: The random number in [0, 1) a percent partition draws against (kruise's ``rand.Float64``).
    draw: float = 0.0
    #: The data of kruise's configuration ConfigMap (None: there is none), for the SidecarSet
    #: patchPodMetadata whitelist; ``configuration_error`` when it could not be read.
    kruise_configuration: Mapping[str, str] | None = None
    configuration_error: str = ""
    #: The random part of a pod name made from ``generateName`` (container launch priority).
    name_suffix: str = ""
    error: str = ""


NO_FACTS = Facts()


class Cluster(Protocol):
    """The few reads a ``gather`` may make (one real implementation: :class:`webhook.cluster.KubeCluster`)."""

    async def active_pods(self, namespace: str) -> int:
        """Pods of ``namespace`` neither Succeeded, Failed nor being deleted."""
        ...

    async def bound_claims(self, namespace: str) -> int:
        """PersistentVolumeClaims of ``namespace`` in phase Bound and not being deleted."""
        ...

    async def live_custom_resources(self, group: str, version: str, plural: str) -> int:
        """Objects of a custom resource, in all namespaces, not being deleted."""
        ...

    async def read_pod(self, namespace: str, name: str) -> JsonObject | None:
        """A pod, None when it does not exist."""
        ...

    async def read_node(self, name: str) -> JsonObject | None:
        """A Node, None when it does not exist."""
        ...

    async def list_pubs(self, namespace: str) -> Sequence[JsonObject]:
        """Every PodUnavailableBudget of ``namespace``."""
        ...

    async def read_storage_class(self, name: str) -> JsonObject | None:
        """A StorageClass, None when it does not exist; ``""``: the default class (kruise's
        ``GetDefaultStorageClass``: the newest of those annotated default), None when there is none."""
        ...

    async def list_sidecarsets(self) -> Sequence[JsonObject]:
        """Every SidecarSet (cluster-scoped), listed now (the SidecarSet conflict check)."""
        ...

    async def injection_sidecarsets(self) -> Sequence[JsonObject]:
        """Every SidecarSet, from the process's watch-fed cache once it has synced (pod CREATE)."""
        ...

    async def namespace_labels(self, namespace: str) -> Mapping[str, str]:
        """The labels of a namespace ({} when it does not exist)."""
        ...

    async def read_controller_revision(self, name: str) -> JsonObject | None:
        """A ControllerRevision of the namespace SidecarSet revisions live in; None when absent."""
        ...

    async def list_controller_revisions(self, label_selector: str) -> Sequence[JsonObject]:
        """The ControllerRevisions of that namespace a label selector selects."""
        ...

    async def kruise_configuration(self) -> Mapping[str, str] | None:
        """The data of kruise's configuration ConfigMap (``kruise-configuration``), None when absent."""
        ...

    async def spend_pod_budget(self, operation: str, pod: JsonObject, dry_run: bool, in_place: bool) -> str:
        """Spend the pod's PodUnavailableBudget for ``operation``: '' when allowed, else kruise's refusal."""
        ...


Handler = Callable[[AdmissionRequest, AdmissionConfig, Facts], Verdict]
Gather = Callable[[AdmissionRequest, AdmissionConfig, Cluster], Awaitable[Facts]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    gather: Gather | None = None


def _gather_all(routes: Sequence[Route]) -> Gather:
    """One gather running each route's in order, the facts each read merged (later ones win)."""

    async def gather(request: AdmissionRequest, config: AdmissionConfig, cluster: Cluster) -> Facts:
        merged = NO_FACTS
        for route in routes:
            if route.gather is not None:
                facts = await route.gather(request, config, cluster)
                changed = {
                    f.name: getattr(facts, f.name)
                    for f in dataclasses.fields(facts)
                    if getattr(facts, f.name) != getattr(NO_FACTS, f.name)
                }
                merged = dataclasses.replace(merged, **changed)
        return merged

    return gather


def chain(*routes: Route) -> Route:
    """Several routes answering one key in order: each gathers, each handler sees the request as
    sent; the first refusal wins, else the patches are concatenated. Only for handlers whose
    patches touch different members (the pod CREATE readiness gate and sidecar injection)."""

    def handler(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
        patch: list[JsonObject] = []
        for route in routes:
            verdict = route.handler(request, config, facts)
            if not verdict.allowed:
                return verdict
            patch.extend(verdict.patch)
        return Verdict(allowed=True, patch=tuple(patch))

    return Route(handler, _gather_all(routes))


def sequence(*routes: Route) -> Route:
    """Several routes answering one key one after another, as kruise's pod handler mutates one pod
    in turn: each handler sees the object the earlier handlers' patches made (applied with
    ``jsonpatch``); the first refusal wins, else the patches are concatenated (JSON patch
    operations apply in order, so the sum is each step's patch on the previous step's result).
    Each route gathers from the request as sent."""

    def handler(request: AdmissionRequest, config: AdmissionConfig, facts: Facts) -> Verdict:
        patch: list[JsonObject] = []
        current = request
        for route in routes:
            verdict = route.handler(current, config, facts)
            if not verdict.allowed:
                return verdict
            if verdict.patch and current.object is not None:
                try:
                    patched_object = jsonpatch.apply_patch(current.object, list(verdict.patch))
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
                    return denied(500, f"flotilla webhook: its own patch does not apply: {err}")
                current = dataclasses.replace(current, object=patched_object)
            patch.extend(verdict.patch)
        return Verdict(allowed=True, patch=tuple(patch))

    return Route(handler, _gather_all(routes))


#: (group, kind, operation): the key a request is routed by ("" is the core group).
RouteKey = tuple[str, str, str]

MUTATE_PATH = "/mutate"
VALIDATE_PATH = "/validate"


def route_table() -> Mapping[str, Mapping[RouteKey, Route]]:
    """Every route by path, from the handler modules (imported here so each stays standalone)."""
    from webhook import kruisekinds, launchpriority, podbudget, podreadiness, protection, sidecarset

    mutating: dict[RouteKey, Route] = {**podreadiness.ROUTES, **kruisekinds.MUTATING}
    # kruise's pod CREATE order: the readiness gate, then the sidecars, then the container launch
    # priority on the pod the sidecars left ("sidecarsetMutatingPod must precede
    # containerLaunchPriorityInitialization", pod_create_update_handler.go).
    mutating[sidecarset.POD_CREATE] = sequence(
        chain(mutating[sidecarset.POD_CREATE], sidecarset.INJECTION), launchpriority.ROUTE
    )
    # pod UPDATE: kruise adds no readiness gate and (re)injects nothing (sidecarset.keep_on_update)
    mutating[sidecarset.POD_UPDATE] = sidecarset.ON_UPDATE
    validating: dict[RouteKey, Route] = {**protection.ROUTES, **podbudget.ROUTES, **sidecarset.VALIDATING}
    for key, route in kruisekinds.VALIDATING.items():
        validating.setdefault(key, route)  # DELETE stays deletion protection
    return {MUTATE_PATH: mutating, VALIDATE_PATH: validating}


async def admit(
    routes: Mapping[RouteKey, Route],
    path: str,
    request: AdmissionRequest,
    config: AdmissionConfig,
    cluster: Cluster,
) -> Verdict:
    """The verdict of the route for ``request``; a clear refusal when there is none."""
    route = routes.get((request.group, request.kind, request.operation))
    if route is None:
        group = request.group or "core"
        return denied(
            400,
            f"flotilla webhook: no {path} handler for kind {request.kind} of group {group} "
            f"on {request.operation}; the webhook configuration sends what this server does not serve",
        )
    facts = NO_FACTS
    if route.gather is not None:
        try:
            facts = await route.gather(request, config, cluster)
        except KubeError as err:
            log.warning("reading cluster state for %s failed: %s", request.key, err)
            return denied(500, f"flotilla webhook could not read the cluster state it decides on: {err}")
    return route.handler(request, config, facts)
