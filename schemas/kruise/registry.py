"""Every kind Flotilla serves, in one tuple: what the CRD generator walks and the tests iterate.

Add a kind's resource class here and run ``flotilla crds generate``.
"""

from __future__ import annotations

from schemas.kruise.advancedcronjob import AdvancedCronJob
from schemas.kruise.base import KruiseResource
from schemas.kruise.broadcastjob import BroadcastJob
from schemas.kruise.cloneset import CloneSet
from schemas.kruise.containerrecreaterequest import ContainerRecreateRequest
from schemas.kruise.imagepull import ImageListPullJob, ImagePullJob, NodeImage
from schemas.kruise.podunavailablebudget import PodUnavailableBudget
from schemas.kruise.sidecarset import SidecarSet
from schemas.kruise.statefulset import StatefulSet
from schemas.kruise.uniteddeployment import UnitedDeployment

ALL_RESOURCES: tuple[type[KruiseResource], ...] = (
    CloneSet,
    StatefulSet,
    SidecarSet,
    UnitedDeployment,
    BroadcastJob,
    AdvancedCronJob,
    ContainerRecreateRequest,
    ImagePullJob,
    ImageListPullJob,
    NodeImage,
    PodUnavailableBudget,
)


def resource_for(api_version: str, kind: str) -> type[KruiseResource]:
    """The model class of ``apiVersion``/``kind`` (that version's own model where its schema differs);
    ``KeyError`` when Flotilla does not serve it."""
    group, _, version = api_version.rpartition("/")
    for resource in ALL_RESOURCES:
        info = resource.info
        if info.kind == kind and info.group == group and version in info.versions:
            return info.version_models.get(version, resource)
    raise KeyError(f"{api_version} {kind} is not a kind Flotilla serves")
