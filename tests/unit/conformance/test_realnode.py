"""The real-node mode's spec files, workers and image mapping (`make conformance-realnode`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from flotilla.conformance.realnode import e2e_image_refs, hosts_toml, repo_list
from flotilla.conformance.run import baseline_path, cluster_config
from flotilla.conformance.specs import spec_files, worker_types

pytestmark = pytest.mark.unit

REGISTRY = "127.0.0.1:5000"


def test_the_real_node_kinds_are_not_in_make_conformance_s_kwok_run() -> None:
    assert "test/e2e/apps/v1alpha1/containerrecreate.go" not in [s.path for s in spec_files()]
    files = spec_files(["ContainerRecreateRequest"], realnode=True)
    assert [s.path for s in files] == ["test/e2e/apps/v1alpha1/containerrecreate.go"]
    with pytest.raises(ValueError, match="no conformance spec file for containerrecreaterequest"):
        spec_files(["ContainerRecreateRequest"])


def test_crr_specs_run_the_cloneset_worker_their_pods_come_from() -> None:
    # containerrecreate_util.go CreateTestCloneSetAndGetPods; the node agent is started apart
    assert worker_types(spec_files(["ContainerRecreateRequest"], realnode=True)) == ("cloneset",)
    path = baseline_path(spec_files(["ContainerRecreateRequest"], realnode=True))
    assert path.name == "kruise-v1.9.1-containerrecreaterequest.json"


def test_image_pull_specs_run_the_job_and_nodeimage_workers() -> None:
    files = spec_files(["ImagePullJob"], realnode=True)
    assert [s.path for s in files] == [
        "test/e2e/apps/v1alpha1/pullimages.go",
        "test/e2e/apps/v1beta1/pullimages.go",
    ]
    assert worker_types(files) == ("cloneset", "imagepulljob", "nodeimage")


def test_a_real_node_run_has_no_kwok_node() -> None:
    assert cluster_config(Path("/tmp/x"), realnode=True).nodes == 0
    assert cluster_config(Path("/tmp/x")).nodes == 3


def test_the_repo_list_moves_the_e2e_images_to_the_loopback_registry() -> None:
    # k8s.io/kubernetes v1.32.10 test/utils/image/manifest.go: Httpd = promoterE2eRegistry
    # "httpd" "2.4.38-4", Agnhost "agnhost" "2.53"; the image is <registry>/<name>:<tag>
    assert yaml.safe_load(repo_list(REGISTRY)) == {"promoterE2eRegistry": "127.0.0.1:5000/e2e-test-images"}
    refs = e2e_image_refs(REGISTRY)
    assert "127.0.0.1:5000/e2e-test-images/httpd:2.4.38-4" in refs
    assert "127.0.0.1:5000/e2e-test-images/agnhost:2.53" in refs
    assert "127.0.0.1:5000/e2e-test-images/nginx:1.14-4" in refs
    # Redis "redis" "5.0.5-3": the redis container of CloneSet's priority specs
    assert "127.0.0.1:5000/e2e-test-images/redis:5.0.5-3" in refs
    assert len(set(refs)) == 7


def test_the_cloneset_real_node_run_focuses_the_five_specs_by_line() -> None:
    # kruise v1.9.1 test/e2e/apps/v1alpha1/cloneset.go: the ginkgo.It lines of "in-place update
    # images with the same imageID" (717), "... both image and env from label" (813), "... two
    # container images with priorities successfully" (910), "..., should not update the next when
    # the previous one failed" (1038), "... two container image and env from metadata with
    # priorities" (1146)
    (cloneset,) = spec_files(["CloneSet"], realnode=True)
    assert cloneset.focus_file == "test/e2e/apps/v1alpha1/cloneset.go:717,813,910,1038,1146"
    assert worker_types([cloneset]) == ("cloneset",)
    # its records stay apart from make conformance's kwok CloneSet baseline
    assert baseline_path([cloneset], realnode=True).name == "kruise-v1.9.1-cloneset-realnode.json"
    assert baseline_path(spec_files(["CloneSet"])).name == "kruise-v1.9.1-cloneset.json"
    assert spec_files(["CloneSet"])[0].focus_file == "test/e2e/apps/v1alpha1/cloneset.go"


def test_docker_hub_pulls_go_to_the_loopback_registry_only() -> None:
    # containerd's hosts.toml (docs/hosts.md): `server` replaces registry-1.docker.io
    parsed = tomllib.loads(hosts_toml(REGISTRY))
    assert parsed == {
        "server": "http://127.0.0.1:5000",
        "host": {"http://127.0.0.1:5000": {"capabilities": ["pull", "resolve"]}},
    }


def test_the_v1alpha1_and_v1beta1_files_same_spec_names_are_compared_apart() -> None:
    # kruise's pullimages.go in both API versions names a spec "create two jobs to pull a same image"
    from flotilla.conformance.results import DEFECT, PASSED, RunResult, SpecResult, compare

    name = "PullImage ImagePullJob create two jobs to pull a same image"
    files = ("test/e2e/apps/v1alpha1/pullimages.go", "test/e2e/apps/v1beta1/pullimages.go")

    def run(states: tuple[str, str]) -> RunResult:
        specs = [SpecResult(name, f, 10, s) for f, s in zip(files, states, strict=True)]
        return RunResult("x", "v1.9.1", list(files), "", "", 0, specs)

    rows = compare(run((PASSED, PASSED)), run((PASSED, "failed")))
    assert [(row.file, row.verdict == DEFECT) for row in rows] == [(files[0], False), (files[1], True)]
