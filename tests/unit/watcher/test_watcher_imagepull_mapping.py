"""A Node maps to its NodeImage (kruise's nodeimage event handler: same name), a NodeImage to every
ImagePullJob; pure."""

from __future__ import annotations

from schemas.bus.envelope import make_key
from watcher.config import CATALOGUE, NODE, MapVia, WatcherConfig, WatchTarget
from watcher.mapping import KeyIndex, Router, owned_keys

NODEIMAGE = next(spec for spec in CATALOGUE if spec.name == "nodeimage")
IMAGEPULLJOB = next(spec for spec in CATALOGUE if spec.name == "imagepulljob")


def test_a_node_maps_to_the_nodeimage_of_its_name() -> None:
    node = {"metadata": {"name": "worker-1", "labels": {"zone": "a"}}}
    assert owned_keys(NODEIMAGE, MapVia.SAME_NAME, node) == (make_key("nodeimage", "", "worker-1"),)
    assert owned_keys(NODEIMAGE, MapVia.SAME_NAME, {"metadata": {}}) == ()
    router = Router(WatcherConfig(types=(NODEIMAGE,)))
    assert router.keys(WatchTarget(NODE), node) == (make_key("nodeimage", "", "worker-1"),)
    assert router.keys(WatchTarget(NODEIMAGE.resource), node) == (make_key("nodeimage", "", "worker-1"),)


def test_a_nodeimage_concerns_every_imagepulljob() -> None:
    router = Router(WatcherConfig(types=(IMAGEPULLJOB,)))
    index = KeyIndex()
    index.observe("imagepulljob", [make_key("imagepulljob", "ns", n) for n in ("a", "b")], deleted=False)
    keys = router.keys(WatchTarget(NODEIMAGE.resource), {"metadata": {"name": "worker-1"}}, index)
    assert keys == (make_key("imagepulljob", "ns", "a"), make_key("imagepulljob", "ns", "b"))


def test_a_finished_or_deleted_imagepulljob_maps_to_its_nodeimages() -> None:
    router = Router(WatcherConfig(types=(NODEIMAGE,)))
    jobs = WatchTarget(next(o.resource for o in NODEIMAGE.owned if o.via is MapVia.FINISHED_JOB_NODES))
    index = KeyIndex()
    index.observe("nodeimage", [make_key("nodeimage", "", n) for n in ("n1", "n2")], deleted=False)
    named = {"metadata": {"name": "j", "namespace": "ns"}, "spec": {"selector": {"names": ["n2"]}}}
    assert router.keys(jobs, named, index) == ()  # running: its NodeImages hear from the job worker
    named["status"] = {"completionTime": "2026-01-01T00:00:00Z"}
    assert router.keys(jobs, named, index) == (make_key("nodeimage", "", "n2"),)
    every = {
        "metadata": {"name": "j", "namespace": "ns", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {},
    }
    assert router.keys(jobs, every, index) == (
        make_key("nodeimage", "", "n1"),
        make_key("nodeimage", "", "n2"),
    )


def test_a_secret_concerns_the_imagepulljobs_of_its_namespace() -> None:
    # kruise's secretEventHandler: the jobs of the Secret's namespace that name it (here: all of
    # them; the job's pass finds out), so a changed pull secret is copied again at once
    router = Router(WatcherConfig(types=(IMAGEPULLJOB,)))
    secrets = WatchTarget(next(o.resource for o in IMAGEPULLJOB.owned if o.via is MapVia.SAME_NAMESPACE))
    assert (secrets.resource.plural, secrets.resource.group) == ("secrets", "")
    index = KeyIndex()
    jobs = [make_key("imagepulljob", ns, n) for ns, n in (("ns", "b"), ("ns", "a"), ("other", "c"))]
    index.observe("imagepulljob", jobs, deleted=False)
    secret = {"metadata": {"name": "pull-secret", "namespace": "ns"}}
    assert router.keys(secrets, secret, index) == (
        make_key("imagepulljob", "ns", "a"),
        make_key("imagepulljob", "ns", "b"),
    )
    assert router.keys(secrets, {"metadata": {"name": "s", "namespace": "empty"}}, index) == ()
