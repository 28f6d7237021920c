"""An ImagePullJob maps to the ImageListPullJob that controls it (kruise's imagePullJobEventHandler:
``EnqueueRequestForOwner`` with ``OnlyControllerOwner``, kind and group checked); pure."""

from __future__ import annotations

from schemas.bus.envelope import make_key
from watcher.config import CATALOGUE, WatcherConfig, WatchTarget
from watcher.mapping import Router

LIST = next(spec for spec in CATALOGUE if spec.name == "imagelistpulljob")
IMAGEPULLJOBS = next(o.resource for o in LIST.owned)


def _child(*refs: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"name": "list-x7k2p", "namespace": "ns", "ownerReferences": list(refs)}}


def _ref(
    kind: str = "ImageListPullJob", controller: bool = True, api: str = "apps.kruise.io/v1beta1"
) -> dict[str, object]:
    return {"apiVersion": api, "kind": kind, "name": "list", "uid": "u1", "controller": controller}


def test_an_imagepulljob_maps_to_its_controlling_list_job_only() -> None:
    assert LIST.resource.kind == "ImageListPullJob"
    assert IMAGEPULLJOBS.kind == "ImagePullJob"
    router = Router(WatcherConfig(types=(LIST,)))
    target = WatchTarget(IMAGEPULLJOBS)
    key = make_key("imagelistpulljob", "ns", "list")
    assert router.keys(target, _child(_ref())) == (key,)
    assert router.keys(target, _child(_ref(api="apps.kruise.io/v1alpha1"))) == (key,)
    # not the controller, another kind (CloneSet's pre-download jobs), another group, no owner
    assert router.keys(target, _child(_ref(controller=False))) == ()
    assert router.keys(target, _child(_ref(kind="CloneSet"))) == ()
    assert router.keys(target, _child(_ref(api="example.com/v1"))) == ()
    assert router.keys(target, _child()) == ()
    # the list job itself maps to its own key
    own = {"metadata": {"name": "list", "namespace": "ns"}}
    assert router.keys(WatchTarget(LIST.resource), own) == (key,)
