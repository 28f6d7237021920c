"""The CloneSet as an owner: its name, namespace, uid and the controller reference it writes.

Thin CloneSet adapters over ``workers.podmechanics.ownership`` (apiVersion
``apps.kruise.io/v1alpha1``, kind ``CloneSet``). Pure; called by the CloneSet planner modules.
"""

from __future__ import annotations

from schemas.kruise.cloneset import CloneSet
from workers.podmechanics.kube_json import JsonDict
from workers.podmechanics.ownership import owner_reference

CLONESET_API_VERSION = "apps.kruise.io/v1alpha1"
CLONESET_KIND = "CloneSet"


def cloneset_name(cloneset: CloneSet) -> str:
    return str(cloneset.metadata.get("name", ""))


def cloneset_namespace(cloneset: CloneSet) -> str:
    return str(cloneset.metadata.get("namespace", ""))


def cloneset_uid(cloneset: CloneSet) -> str:
    return str(cloneset.metadata.get("uid", ""))


def controller_reference(cloneset: CloneSet) -> JsonDict:
    """The ownerReference that makes the CloneSet the controller (garbage collection follows it)."""
    return owner_reference(CLONESET_API_VERSION, CLONESET_KIND, cloneset.metadata)
