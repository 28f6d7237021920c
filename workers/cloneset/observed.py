"""The immutable snapshot one CloneSet reconcile plans from.

The shell reads the CloneSet (parsed into the schemas model) and, as raw JSON dicts, the
pods, PVCs and ControllerRevisions that may concern it, and freezes them here. Pods are
those controlled by the CloneSet plus orphans its selector matches (the planner decides
adoption and release); revisions are those in the namespace its selector matches;
``image_pull_jobs`` the pre-download jobs its selector matches (see the field).
``node_labels`` are the labels of the pods' nodes when the template asks for topology
spreading (scale-in ranks victims by topology). ``name_seed`` is entropy the shell draws at
read time: the planner's only source of randomness (new pod names), so ``plan`` stays a pure
function of its inputs. The clock is not here: ``plan`` takes ``now`` as its own argument.
Built by the shell's ``observe`` (and by tests), read by ``planner.plan``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from schemas.kruise.cloneset import CloneSet
from workers.podmechanics.kube_json import JsonObject


@dataclass(frozen=True)
class ObservedCloneSet:
    cloneset: CloneSet
    pods: tuple[JsonObject, ...] = ()
    pvcs: tuple[JsonObject, ...] = ()
    revisions: tuple[JsonObject, ...] = ()
    name_seed: int = 0
    node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Labels of the nodes the pods run on, by node name: read only when the template has
    ``topologySpreadConstraints`` (scale-in ranks pods by topology); empty otherwise."""
    image_pull_jobs: tuple[JsonObject, ...] = ()
    """ImagePullJobs its selector matches: read only when one of its revisions carries the
    pre-download created label (they are deleted once the revisions agree); empty otherwise."""

    @classmethod
    def of(
        cls,
        cloneset: CloneSet,
        pods: Iterable[JsonObject] = (),
        pvcs: Iterable[JsonObject] = (),
        revisions: Iterable[JsonObject] = (),
        name_seed: int = 0,
        node_labels: Mapping[str, Mapping[str, str]] | None = None,
        image_pull_jobs: Iterable[JsonObject] = (),
    ) -> ObservedCloneSet:
        return cls(
            cloneset,
            tuple(pods),
            tuple(pvcs),
            tuple(revisions),
            name_seed,
            node_labels or {},
            tuple(image_pull_jobs),
        )
