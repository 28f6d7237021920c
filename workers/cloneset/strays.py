"""Label selectors that find a CloneSet's strays: its pods that no longer match its selector.

A pod fails a selector when it fails one of its requirements, so the pods carrying
``apps.kruise.io/cloneset-instance-id`` that fail the selector are the union, over the
requirements, of the pods matching that requirement's negation (``k=v`` -> ``k!=v``,
``in`` -> ``notin``, ``Exists`` -> ``!k``, ...; ``!=`` and ``notin`` also match pods without the
key, as a failed ``=`` / ``in`` does). ``observe`` lists each of these, usually empty, instead of
every CloneSet pod in the namespace.

Each negation alone would still match every pod of every *other* CloneSet in the namespace (20
CloneSets of 50 pods: each reconcile read ~1,000 foreign pods, most of a worker's CPU went to
decoding them). So each is narrowed to the pods this CloneSet made: those whose
``pod-template-hash`` is one of its revisions' hashes (every pod it creates carries it), plus those
without that label (removed along with the selector's). Still missed, as no label selector can
tell: an owned pod relabelled both out of the selector and to a foreign template hash. The
selectors are built by the shared ``workers.podmechanics.strays``. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.kruise.cloneset import CLONESET_INSTANCE_ID_LABEL
from schemas.kruise.pub import POD_TEMPLATE_HASH_LABEL, LabelSelector
from workers.podmechanics import strays


def stray_selectors(selector: LabelSelector, template_hashes: Iterable[str]) -> tuple[str, ...]:
    """Label selectors (two per requirement) that together list the instance pods with one of
    ``template_hashes`` (the short hashes of the CloneSet's revisions) or none, that the selector
    misses (the shared ``podmechanics.strays``, anchored on the instance-id label).

    An empty selector matches every pod: nothing can stray, so there is nothing to list.
    """
    return strays.stray_selectors(
        selector, CLONESET_INSTANCE_ID_LABEL, POD_TEMPLATE_HASH_LABEL, template_hashes
    )
