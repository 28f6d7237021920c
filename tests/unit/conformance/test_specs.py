"""Which kruise spec files a conformance run selects, and which Flotilla workers it starts."""

from __future__ import annotations

import pytest

from flotilla.conformance.run import baseline_path
from flotilla.conformance.specs import node_names, spec_files, worker_types
from flotilla.devcluster.demo import WORKER_TYPES

pytestmark = pytest.mark.unit

JOBS = [
    "test/e2e/apps/v1alpha1/broadcastjob.go",
    "test/e2e/apps/v1beta1/broadcastjob.go",
    "test/e2e/apps/v1alpha1/advancedcronjob.go",
    "test/e2e/apps/v1beta1/advancedcronjob.go",
]


def test_make_conformance_kinds_is_one_comma_separated_word() -> None:
    files = spec_files(["BroadcastJob,AdvancedCronJob"])
    assert [spec.path for spec in files] == JOBS
    assert spec_files(["broadcastjob", "advancedcronjob"]) == files


def test_the_job_kinds_run_their_workers_and_cloneset_s_not_the_demo_s() -> None:
    assert worker_types(spec_files(["BroadcastJob,AdvancedCronJob"])) == (
        "cloneset",
        "broadcastjob",
        "advancedcronjob",
    )
    assert worker_types(spec_files(["CloneSet"])) == ("cloneset",)
    assert WORKER_TYPES == (
        "cloneset",
        "statefulset",
        "uniteddeployment",
        "sidecarset",
        "containerlaunchpriority",
    ), "make demo keeps its own list"


def test_uniteddeployment_runs_the_workers_of_its_subset_kinds() -> None:
    # kruise's e2e picks CloneSet, Advanced StatefulSet, StatefulSet or Deployment at random
    assert worker_types(spec_files(["UnitedDeployment"])) == ("cloneset", "statefulset", "uniteddeployment")
    assert baseline_path(spec_files(["UnitedDeployment"])).name == "kruise-v1.9.1-uniteddeployment.json"


def test_uniteddeployment_runs_get_the_node_its_specs_label_by_name_and_other_kinds_none() -> None:
    # kruise's framework/v1alpha1/uniteddeployment.go SetNodeLabel: Nodes().Get("ci-testing-worker")
    assert node_names(spec_files(["UnitedDeployment"])) == ("ci-testing-worker",)
    assert node_names(spec_files(["CloneSet,BroadcastJob,AdvancedCronJob"])) == ()


def test_a_kind_with_two_spec_files_is_named_once_in_the_baseline_file() -> None:
    path = baseline_path(spec_files(["BroadcastJob,AdvancedCronJob"]))
    assert path.name == "kruise-v1.9.1-broadcastjob-advancedcronjob.json"


def test_an_unknown_kind_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no conformance spec file for daemonset .*BroadcastJob"):
        spec_files(["DaemonSet"])


def test_pub_runs_its_worker_and_those_of_the_workloads_its_specs_protect() -> None:
    # podunavailablebudget.go creates Deployments (kube-controller-manager), CloneSets and SidecarSets
    assert worker_types(spec_files(["PodUnavailableBudget"])) == (
        "cloneset",
        "podunavailablebudget",
        "sidecarset",
    )
    assert (
        baseline_path(spec_files(["PodUnavailableBudget"])).name == "kruise-v1.9.1-podunavailablebudget.json"
    )


def test_sidecarset_runs_kruise_s_six_spec_files_with_its_worker_and_cloneset_s() -> None:
    # kruise v1.9.1 test/e2e/apps/{v1alpha1,v1beta1}/sidecarset{,_hotupgrade,_resources_policy}.go;
    # the specs' pods come from Deployments (kube-controller-manager) and CloneSets
    files = spec_files(["SidecarSet"])
    assert [spec.path for spec in files] == [
        f"test/e2e/apps/{version}/{name}.go"
        for version in ("v1alpha1", "v1beta1")
        for name in ("sidecarset", "sidecarset_hotupgrade", "sidecarset_resources_policy")
    ]
    assert worker_types(files) == ("cloneset", "sidecarset")
    assert baseline_path(files).name == "kruise-v1.9.1-sidecarset.json"
