"""The CloneSet's ControllerRevisions: the CloneSet as a revision owner (``podmechanics.revisions``).

A CloneSet revision carries, besides what every kruise workload's revision carries, the
``kruise.io/cloneset-volumeclaimtemplate-hash`` annotation of its claim templates (``claimhash``;
kruise's ``revision.NewRevision``), and a revision rolled back to gets the hash of now. Pure;
called by the ``planner`` (and by tests and benchmarks to build a CloneSet's revision).
"""

from __future__ import annotations

from schemas.kruise.cloneset import CloneSet
from workers.cloneset.claimhash import VCT_HASH_ANNOTATION, claim_templates_hash
from workers.cloneset.owner import controller_reference
from workers.podmechanics import revisions
from workers.podmechanics.kube_json import JsonDict
from workers.podmechanics.revisions import RevisionOwner


def revision_owner(cloneset: CloneSet) -> RevisionOwner:
    """What the CloneSet contributes to its revisions."""
    return RevisionOwner(
        metadata=cloneset.metadata,
        reference=controller_reference(cloneset),
        template=cloneset.spec.template,
        collision_count=cloneset.status.collision_count or 0,
        current_revision=cloneset.status.current_revision,
        annotations={VCT_HASH_ANNOTATION: claim_templates_hash(cloneset.spec.volume_claim_templates)},
    )


def new_revision(cloneset: CloneSet, number: int, collision_count: int) -> JsonDict:
    """The ControllerRevision recording the CloneSet's template (kruise ``NewRevision``)."""
    return revisions.new_revision(revision_owner(cloneset), number, collision_count)
