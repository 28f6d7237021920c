"""Which of kruise's e2e spec files `make conformance` runs: one line per implemented kind.

Paths are relative to the kruise module (github.com/openkruise/kruise at
`versions.KRUISE`); ginkgo selects the specs with ``--focus-file`` on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flotilla.devcluster import versions
from flotilla.devcluster.toolchain import cache_root


@dataclass(frozen=True)
class SpecFile:
    kind: str
    path: str
    #: Only the ``It``s at these lines (ginkgo ``--focus-file=<path>:<line>,<line>``); all if empty.
    lines: tuple[int, ...] = ()

    @property
    def focus_file(self) -> str:
        """ginkgo's ``--focus-file`` value for this file (and its lines)."""
        return f"{self.path}:{','.join(map(str, self.lines))}" if self.lines else self.path


#: The spec files of every kind Flotilla implements. A new kind is one more line.
SPEC_FILES: tuple[SpecFile, ...] = (
    SpecFile("CloneSet", "test/e2e/apps/v1alpha1/cloneset.go"),
    SpecFile("StatefulSet", "test/e2e/apps/v1beta1/statefulset.go"),
    SpecFile("BroadcastJob", "test/e2e/apps/v1alpha1/broadcastjob.go"),
    SpecFile("BroadcastJob", "test/e2e/apps/v1beta1/broadcastjob.go"),
    SpecFile("AdvancedCronJob", "test/e2e/apps/v1alpha1/advancedcronjob.go"),
    SpecFile("AdvancedCronJob", "test/e2e/apps/v1beta1/advancedcronjob.go"),
    SpecFile("DeletionProtection", "test/e2e/policy/v1alpha1/deletionprotection.go"),
    SpecFile("UnitedDeployment", "test/e2e/apps/v1alpha1/uniteddeployment.go"),
    SpecFile("PodUnavailableBudget", "test/e2e/policy/v1alpha1/podunavailablebudget.go"),
    *(
        SpecFile("SidecarSet", f"test/e2e/apps/{version}/{name}.go")
        for version in ("v1alpha1", "v1beta1")
        for name in ("sidecarset", "sidecarset_hotupgrade", "sidecarset_resources_policy")
    ),
)

#: The ``It`` lines of kruise v1.9.1's cloneset.go whose specs need real containers (the environment
#: limits of kwok in docs/conformance.md): :717 in-place update to an image of the same imageID,
#: :813 image + env from a label (kruise-daemon's containermeta), :910 two containers updated in
#: priority order, :1038 the next container not updated when the previous failed (busybox's ``sh``
#: exits), :1146 image + env from an annotation with priorities (containermeta restarts).
CLONESET_REALNODE_LINES: tuple[int, ...] = (717, 813, 910, 1038, 1146)

#: The spec files of the kinds done on the node (kruise-daemon's half), run by `make
#: conformance-realnode` on a real node (containerd + kubelet) instead of kwok nodes: `realnode.py`.
REALNODE_SPEC_FILES: tuple[SpecFile, ...] = (
    SpecFile("ContainerRecreateRequest", "test/e2e/apps/v1alpha1/containerrecreate.go"),
    SpecFile("ImagePullJob", "test/e2e/apps/v1alpha1/pullimages.go"),
    SpecFile("ImagePullJob", "test/e2e/apps/v1beta1/pullimages.go"),
    SpecFile("ImageListPullJob", "test/e2e/apps/v1alpha1/imagelistpulljobs.go"),
    SpecFile("ImageListPullJob", "test/e2e/apps/v1beta1/imagelistpulljobs.go"),
    # only the specs that need real containers; the rest run on kwok (`make conformance`)
    SpecFile("CloneSet", "test/e2e/apps/v1alpha1/cloneset.go", CLONESET_REALNODE_LINES),
)

#: The Flotilla worker type (``flotilla worker <type>``) that reconciles each kind.
WORKER_TYPES: dict[str, str] = {
    "CloneSet": "cloneset",
    "StatefulSet": "statefulset",
    "BroadcastJob": "broadcastjob",
    "AdvancedCronJob": "advancedcronjob",
    "UnitedDeployment": "uniteddeployment",
    "PodUnavailableBudget": "podunavailablebudget",
    "SidecarSet": "sidecarset",
    # the node agent executes the requests and pulls; these workers do kruise-manager's part
    "ImagePullJob": "imagepulljob",
    "NodeImage": "nodeimage",
    "ImageListPullJob": "imagelistpulljob",
}

#: Kinds whose specs create workloads of other kinds Flotilla reconciles: kruise's e2e
#: UnitedDeployment picks a subset template at random among CloneSet, Advanced StatefulSet,
#: apps/v1 StatefulSet and Deployment (the last two are kube-controller-manager's).
NEEDS: dict[str, tuple[str, ...]] = {
    "UnitedDeployment": ("StatefulSet",),
    # kruise's e2e PUB specs protect Deployments (kube-controller-manager's), CloneSets and pods
    # a SidecarSet injected and upgrades in place
    "PodUnavailableBudget": ("SidecarSet",),
    # kruise-manager keeps a NodeImage per node; an ImageListPullJob makes ImagePullJobs
    "ImagePullJob": ("NodeImage",),
    "ImageListPullJob": ("ImagePullJob", "NodeImage"),
}

#: Nodes a kind's specs read by name: kruise's e2e UnitedDeployment framework labels the node
#: ``ci-testing-worker`` (a worker of kruise CI's kind cluster) to make a subset (un)schedulable.
NODE_NAMES: dict[str, tuple[str, ...]] = {
    "UnitedDeployment": ("ci-testing-worker",),
}


def node_names(files: Sequence[SpecFile]) -> tuple[str, ...]:
    """The named kwok nodes the run adds for these spec files, each once."""
    return tuple(dict.fromkeys(name for spec in files for name in NODE_NAMES.get(spec.kind, ())))


def spec_files(kinds: list[str] | None = None, *, realnode: bool = False) -> tuple[SpecFile, ...]:
    """The spec files of `kinds` (case-insensitive), or all of them; of `REALNODE_SPEC_FILES`
    with `realnode`."""
    # `make conformance KINDS=BroadcastJob,AdvancedCronJob` passes one comma-separated word
    wanted = {kind.lower() for word in kinds or () for kind in word.split(",") if kind}
    files = REALNODE_SPEC_FILES if realnode else SPEC_FILES
    if not wanted:
        return files
    chosen = tuple(spec for spec in files if spec.kind.lower() in wanted)
    unknown = wanted - {spec.kind.lower() for spec in chosen}
    if unknown:
        known = ", ".join(dict.fromkeys(spec.kind for spec in files))
        raise ValueError(f"no conformance spec file for {', '.join(sorted(unknown))} (known: {known})")
    return chosen


def worker_types(files: Sequence[SpecFile]) -> tuple[str, ...]:
    """The workers Flotilla runs for these spec files: their kinds' plus CloneSet's (kruise's
    e2e framework and other kinds' specs create CloneSets) and those of the kinds their specs
    create (`NEEDS`), each once, in a stable order."""
    kinds = {"CloneSet", *(spec.kind for spec in files)}
    kinds |= {needed for kind in tuple(kinds) for needed in NEEDS.get(kind, ())}
    return tuple(worker for kind, worker in WORKER_TYPES.items() if kind in kinds)


def kruise_source() -> Path:
    """The unpacked kruise module in the Go module cache (the kruise build downloads it)."""
    return cache_root() / "go" / "mod" / "github.com" / "openkruise" / f"kruise@{versions.KRUISE}"
