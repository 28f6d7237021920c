"""What the watcher watches: worker types, their primary resource and the resources they own.

Pure data. :func:`load_config` reads an optional YAML/JSON file (``--config``) and the built-in
catalogue of OpenKruise kinds; :mod:`watcher.command` builds a :class:`WatcherConfig` from the
CLI flags, :mod:`watcher.informer` watches each :class:`WatchTarget` and :mod:`watcher.mapping`
turns one watched object into reconcile keys using the :class:`TypeSpec` rules.

A config file looks like::

    types:
      testcm:
        resource: {group: "", version: v1, resource: configmaps, kind: ConfigMap}
        labelSelector: flotilla.dev/test=abc
        owned:
          - resource: {group: "", version: v1, resource: pods, kind: Pod}
            via: controller-owner
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flotilla.runtime.kube import Resource


class ConfigError(ValueError):
    """The watcher configuration is unusable; the message says what to change."""


class MapVia(enum.StrEnum):
    """How an owned object names the reconcile key(s) it concerns."""

    #: Its ``metadata.ownerReferences`` entry with ``controller: true`` of the primary kind.
    CONTROLLER_OWNER = "controller-owner"
    #: Its controller owner as above; when it has no controller at all (an orphan), every object
    #: of the type in its namespace whose ``spec.selector`` matches its labels (who would adopt it).
    CONTROLLER_OWNER_OR_SELECTOR = "controller-owner-or-selector"
    #: Every SidecarSet named in its ``kruise.io/sidecarset-hash`` annotation (injected pods).
    SIDECARSET_ANNOTATION = "sidecarset-annotation"
    #: Every key of the type (a node change concerns every DaemonSet / BroadcastJob).
    EVERY_KEY = "every-key"
    #: The PodUnavailableBudget named in a pod's ``kruise.io/related-pub`` annotation; without it,
    #: every PUB of its namespace whose ``spec.selector`` matches its labels or whose
    #: ``spec.targetRef`` names its controller owner.
    RELATED_PUB = "related-pub"
    #: Every PodUnavailableBudget of a workload's namespace whose ``spec.targetRef`` names it or whose
    #: ``spec.selector`` matches its pod template's labels (its replicas are the PUB's total).
    PUB_TARGET = "pub-target"
    #: The key of the type named like the object (a Node -> its NodeImage, cluster-scoped both).
    SAME_NAME = "same-name"
    #: A finished or deleted ImagePullJob -> the NodeImages of its ``spec.selector.names``, or
    #: every NodeImage key when it names none (kruise enqueues the job's NodeImages on its deletion,
    #: so a tag it alone owned is dropped).
    FINISHED_JOB_NODES = "finished-job-nodes"
    #: Every key of the type in the object's namespace (a Secret -> the ImagePullJobs that may name
    #: it as a pull secret: kruise's secret event handler, without an index of their pullSecrets).
    SAME_NAMESPACE = "same-namespace"


class PrimaryWhen(enum.StrEnum):
    """Which objects of a type's primary resource are keys (default: every one)."""

    #: A pod whose containers still wait on their launch-priority barrier (kruise's
    #: container-launch-priority controller's event filter, ``launchpriority.worth_a_look``).
    LAUNCH_PRIORITY_PENDING = "launch-priority-pending"


class UpdateFilter(enum.StrEnum):
    """Which updates of an owned object trigger no reconcile (when the watcher's filter is on)."""

    #: kruise's ``CloneSetEventHandlerOptimization``: pod updates that cannot change a CloneSet's
    #: plan (:mod:`watcher.podupdates`); on with ``--cloneset-event-filter=on``.
    CLONESET_POD = "cloneset-pod"


@dataclass(frozen=True, slots=True)
class OwnedSpec:
    resource: Resource
    via: MapVia = MapVia.CONTROLLER_OWNER
    #: Updates this rule skips while ``WatcherConfig.cloneset_event_filter`` is on (None: none).
    update_filter: UpdateFilter | None = None


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """One worker type: its primary resource (the key's object) and what it owns."""

    name: str
    resource: Resource
    label_selector: str = ""
    owned: tuple[OwnedSpec, ...] = ()
    #: Only these objects of the primary resource are keys (None: all); a type's resync then
    #: triggers only its own keys (its primary resource is another type's owned one, e.g. pods).
    primary_when: PrimaryWhen | None = None


@dataclass(frozen=True, slots=True)
class WatchTarget:
    """One list+watch stream: a resource, optionally narrowed by label selector and namespace."""

    resource: Resource
    label_selector: str = ""
    #: Watch only this namespace (None: every namespace, or a cluster-scoped resource).
    namespace: str | None = None

    def unbound(self) -> WatchTarget:
        """The same resource and selector in every namespace (how routes are keyed)."""
        return WatchTarget(self.resource, self.label_selector) if self.namespace is not None else self

    def checkpoint_key(self, scope: str, namespace: str | None) -> str:
        """The NATS KV key holding this stream's last resourceVersion (only KV-safe characters)."""
        ident = f"{self.resource.api_version}/{self.resource.plural}|{namespace or ''}|{self.label_selector}"
        digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
        group = self.resource.group.replace(".", "_") or "core"
        return f"{scope}.{group}.{self.resource.plural}.{digest}"


@dataclass(frozen=True, slots=True)
class WatcherConfig:
    types: tuple[TypeSpec, ...]
    #: Watch only these namespaces (empty: all namespaces). Cluster-scoped kinds stay cluster-wide.
    namespaces: tuple[str, ...] = ()
    resync_seconds: float = 300.0
    checkpoint_seconds: float = 1.0
    watch_timeout_seconds: int = 300
    max_in_flight: int = 512
    extra: Mapping[str, str] = field(default_factory=dict)
    #: Skip the pod updates kruise's ``CloneSetEventHandlerOptimization`` skips (and a few less:
    #: :mod:`watcher.podupdates`) for the rules that name :attr:`UpdateFilter.CLONESET_POD`.
    cloneset_event_filter: bool = False

    def targets(self) -> tuple[WatchTarget, ...]:
        """Every distinct stream to watch, primaries first, in config order."""
        seen: dict[WatchTarget, None] = {}
        for spec in self.types:
            seen.setdefault(WatchTarget(spec.resource, spec.label_selector), None)
        for spec in self.types:
            for owned in spec.owned:
                seen.setdefault(WatchTarget(owned.resource), None)
        return tuple(seen)

    def streams(self) -> tuple[WatchTarget, ...]:
        """:meth:`targets` bound to each watched namespace: what the informers list and watch."""
        bound: list[WatchTarget] = []
        for target in self.targets():
            if self.namespaces and target.resource.namespaced:
                bound.extend(WatchTarget(target.resource, target.label_selector, n) for n in self.namespaces)
            else:
                bound.append(target)
        return tuple(bound)

    def type_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.types)


_CORE = ""
_KRUISE = "apps.kruise.io"
POD = Resource(_CORE, "v1", "pods", "Pod")
PVC = Resource(_CORE, "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
REVISION = Resource("apps", "v1", "controllerrevisions", "ControllerRevision")
CONFIGMAP = Resource(_CORE, "v1", "configmaps", "ConfigMap")
SECRET = Resource(_CORE, "v1", "secrets", "Secret")
NODE = Resource(_CORE, "v1", "nodes", "Node", namespaced=False)


def _owns(*resources: Resource) -> tuple[OwnedSpec, ...]:
    return tuple(OwnedSpec(r) for r in resources)


#: Built-in worker types, CloneSet first. Enabled by ``--types`` (default: all of them).
CATALOGUE: tuple[TypeSpec, ...] = (
    TypeSpec(
        "cloneset",
        Resource(_KRUISE, "v1alpha1", "clonesets", "CloneSet"),
        owned=(
            OwnedSpec(POD, MapVia.CONTROLLER_OWNER_OR_SELECTOR, UpdateFilter.CLONESET_POD),
            *_owns(PVC, REVISION),
        ),
    ),
    TypeSpec(
        "statefulset",
        Resource(_KRUISE, "v1beta1", "statefulsets", "StatefulSet"),
        owned=_owns(POD, PVC, REVISION),
    ),
    TypeSpec(
        "daemonset",
        Resource(_KRUISE, "v1alpha1", "daemonsets", "DaemonSet"),
        owned=(*_owns(POD, REVISION), OwnedSpec(NODE, MapVia.EVERY_KEY)),
    ),
    TypeSpec(
        "sidecarset",
        Resource(_KRUISE, "v1beta1", "sidecarsets", "SidecarSet", namespaced=False),
        owned=(OwnedSpec(POD, MapVia.SIDECARSET_ANNOTATION), OwnedSpec(REVISION)),
    ),
    TypeSpec(
        "uniteddeployment",
        Resource(_KRUISE, "v1alpha1", "uniteddeployments", "UnitedDeployment"),
        owned=_owns(
            Resource(_KRUISE, "v1alpha1", "clonesets", "CloneSet"),
            Resource(_KRUISE, "v1beta1", "statefulsets", "StatefulSet"),
            Resource("apps", "v1", "statefulsets", "StatefulSet"),
            Resource("apps", "v1", "deployments", "Deployment"),
            REVISION,
        ),
    ),
    TypeSpec(
        "broadcastjob",
        Resource(_KRUISE, "v1alpha1", "broadcastjobs", "BroadcastJob"),
        owned=(*_owns(POD), OwnedSpec(NODE, MapVia.EVERY_KEY)),
    ),
    TypeSpec(
        "advancedcronjob",
        Resource(_KRUISE, "v1alpha1", "advancedcronjobs", "AdvancedCronJob"),
        owned=_owns(
            Resource("batch", "v1", "jobs", "Job"),
            Resource(_KRUISE, "v1alpha1", "broadcastjobs", "BroadcastJob"),
        ),
    ),
    TypeSpec(
        "nodeimage",
        Resource(_KRUISE, "v1beta1", "nodeimages", "NodeImage", namespaced=False),
        owned=(
            OwnedSpec(NODE, MapVia.SAME_NAME),
            OwnedSpec(
                Resource(_KRUISE, "v1beta1", "imagepulljobs", "ImagePullJob"), MapVia.FINISHED_JOB_NODES
            ),
        ),
    ),
    TypeSpec(
        "imagepulljob",
        Resource(_KRUISE, "v1beta1", "imagepulljobs", "ImagePullJob"),
        owned=(
            OwnedSpec(
                Resource(_KRUISE, "v1beta1", "nodeimages", "NodeImage", namespaced=False), MapVia.EVERY_KEY
            ),
            OwnedSpec(SECRET, MapVia.SAME_NAMESPACE),
        ),
    ),
    TypeSpec(
        "imagelistpulljob",
        Resource(_KRUISE, "v1beta1", "imagelistpulljobs", "ImageListPullJob"),
        owned=_owns(Resource(_KRUISE, "v1beta1", "imagepulljobs", "ImagePullJob")),
    ),
    TypeSpec(
        "containerlaunchpriority",
        POD,
        primary_when=PrimaryWhen.LAUNCH_PRIORITY_PENDING,
    ),
    TypeSpec(
        "podunavailablebudget",
        Resource("policy.kruise.io", "v1alpha1", "podunavailablebudgets", "PodUnavailableBudget"),
        owned=(
            OwnedSpec(POD, MapVia.RELATED_PUB),
            *(
                OwnedSpec(workload, MapVia.PUB_TARGET)
                for workload in (
                    Resource(_KRUISE, "v1alpha1", "clonesets", "CloneSet"),
                    Resource(_KRUISE, "v1beta1", "statefulsets", "StatefulSet"),
                    Resource("apps", "v1", "statefulsets", "StatefulSet"),
                    Resource("apps", "v1", "deployments", "Deployment"),
                )
            ),
        ),
    ),
)


def _resource(raw: object, where: str) -> Resource:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with group, version, resource, kind")
    try:
        return Resource(
            group=str(raw.get("group", "")),
            version=str(raw["version"]),
            plural=str(raw["resource"]),
            kind=str(raw["kind"]),
            namespaced=bool(raw.get("namespaced", True)),
        )
    except KeyError as missing:
        raise ConfigError(f"{where}: missing field {missing}") from None


def parse_types(document: object) -> tuple[TypeSpec, ...]:
    """Parse the ``types:`` mapping of a config document (YAML/JSON already loaded)."""
    if not isinstance(document, dict) or not isinstance(document.get("types"), dict):
        raise ConfigError("config file: expected a top-level 'types:' mapping of type name -> spec")
    specs: list[TypeSpec] = []
    for name, raw in document["types"].items():
        where = f"types.{name}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping")
        owned: list[OwnedSpec] = []
        for index, item in enumerate(raw.get("owned") or ()):
            if not isinstance(item, dict):
                raise ConfigError(f"{where}.owned[{index}]: expected a mapping")
            try:
                via = MapVia(item.get("via", MapVia.CONTROLLER_OWNER.value))
            except ValueError:
                choices = ", ".join(v.value for v in MapVia)
                raise ConfigError(f"{where}.owned[{index}].via: one of {choices}") from None
            owned.append(OwnedSpec(_resource(item.get("resource"), f"{where}.owned[{index}]"), via))
        specs.append(
            TypeSpec(
                name=str(name),
                resource=_resource(raw.get("resource"), where),
                label_selector=str(raw.get("labelSelector", "")),
                owned=tuple(owned),
            )
        )
    return tuple(specs)


def select_types(
    enabled: Iterable[str] | None,
    extra: tuple[TypeSpec, ...] = (),
    catalogue: tuple[TypeSpec, ...] = CATALOGUE,
) -> tuple[TypeSpec, ...]:
    """The enabled types: by name from the config file's types, then the catalogue.

    ``enabled`` None means every type of the config file when it defines any, else the catalogue.
    """
    by_name = {spec.name: spec for spec in catalogue}
    by_name.update({spec.name: spec for spec in extra})
    if enabled is None:
        return extra or catalogue
    chosen: list[TypeSpec] = []
    for name in enabled:
        if name not in by_name:
            raise ConfigError(f"unknown worker type {name!r}; known: {', '.join(sorted(by_name))}")
        chosen.append(by_name[name])
    if not chosen:
        raise ConfigError("no worker types enabled")
    return tuple(chosen)


def load_file(path: Path) -> tuple[TypeSpec, ...]:
    """Types defined by a YAML (or JSON) config file."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read watcher config {path}: {exc}") from None
    return parse_types(document)
