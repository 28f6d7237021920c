"""kruise's feature gates: the table, ``--feature-gates`` parsing as Kubernetes does it, kruise's
gate dependencies, and the CloneSet worker built from the flag / env.

Expected gate defaults are copied from kruise v1.9.1 pkg/features/kruise_features.go
(``defaultFeatureGates``); parse errors from k8s.io/component-base featuregate ``Set`` /
``unsafeSetFromMap``.
"""

from __future__ import annotations

import argparse

import pytest

from flotilla.cli import build_parser
from flotilla.runtime.features import (
    KRUISE_FEATURES,
    Feature,
    FeatureGateError,
    Stage,
    feature_gates,
    feature_gates_from_flag,
    parse_feature_gates,
)
from workers.cloneset.config import PlannerConfig
from workers.runtime.cli import configured_worker

# kruise v1.9.1 pkg/features/kruise_features.go, defaultFeatureGates: the gates on by default.
KRUISE_ON_BY_DEFAULT = {
    "PodWebhook",
    "KruiseDaemon",
    "DaemonWatchingPod",
    "WorkloadSpread",
    "PodUnavailableBudgetDeleteGate",
    "InPlaceUpdateEnvFromMetadata",
    "StatefulSetAutoDeletePVC",
    "PodProbeMarkerGate",
    "PodIndexLabel",
}
# ... and the beta ones (ResourcesDeletionProtection is beta but off).
KRUISE_BETA = KRUISE_ON_BY_DEFAULT | {"ResourcesDeletionProtection"}
KRUISE_GATE_COUNT = 34


def test_the_table_is_kruises() -> None:
    assert len(KRUISE_FEATURES) == KRUISE_GATE_COUNT
    assert {f.value for f, s in KRUISE_FEATURES.items() if s.default} == KRUISE_ON_BY_DEFAULT
    assert {f.value for f, s in KRUISE_FEATURES.items() if s.stage is Stage.BETA} == KRUISE_BETA
    gates = feature_gates()
    assert {f.value for f, on in gates.enabled.items() if on} == KRUISE_ON_BY_DEFAULT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("A=true,B=false", {"A": True, "B": False}),
        (" A = true , B=0,,C=T", {"A": True, "B": False, "C": True}),
        ("A=1,A=False", {"A": False}),
    ],
)
def test_parse_like_kubernetes(text: str, expected: dict[str, bool]) -> None:
    assert parse_feature_gates(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PreparingUpdateAsUpdate", "missing bool value for PreparingUpdateAsUpdate"),
        ("PreparingUpdateAsUpdate=yes", "invalid value of PreparingUpdateAsUpdate=yes"),
        ("NoSuchGate=true", "unrecognized feature gate: NoSuchGate"),
        ("preparingupdateasupdate=true", "unrecognized feature gate: preparingupdateasupdate"),
    ],
)
def test_bad_flags_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FeatureGateError, match=message):
        feature_gates_from_flag(text)


def test_all_alpha_and_all_beta_leave_named_gates_alone() -> None:
    # kruise's e2e manager flags (config/manager/manager.yaml)
    gates = feature_gates_from_flag(
        "AllAlpha=true,AllBeta=true,EnableExternalCerts=false,TemplateNoDefaults=false"
    )
    assert gates[Feature.PREPARING_UPDATE_AS_UPDATE]
    assert gates[Feature.CLONE_SET_PARTITION_ROLLBACK]
    assert gates[Feature.RESOURCES_DELETION_PROTECTION]  # beta, off by default
    assert not gates[Feature.ENABLE_EXTERNAL_CERTS]
    assert not gates[Feature.TEMPLATE_NO_DEFAULTS]
    # order does not matter: an explicit value wins over AllAlpha either way
    assert not feature_gates_from_flag("TemplateNoDefaults=false,AllAlpha=true")[Feature.TEMPLATE_NO_DEFAULTS]
    off = feature_gates_from_flag("AllBeta=false")
    assert not any(off[f] for f, s in KRUISE_FEATURES.items() if s.stage is Stage.BETA)
    assert not off[Feature.CLONE_SET_SHORT_HASH]  # alpha untouched


def test_kruise_dependencies() -> None:
    # kruise SetDefaultFeatureGates
    no_daemon = feature_gates({"KruiseDaemon": False, "AllAlpha": True})
    assert not no_daemon[Feature.IN_PLACE_UPDATE_ENV_FROM_METADATA]
    assert not no_daemon[Feature.IMAGE_PULL_JOB_GATE]
    assert not no_daemon[Feature.PRE_DOWNLOAD_IMAGE_FOR_IN_PLACE_UPDATE]
    no_webhook = feature_gates({"PodWebhook": False})
    assert not no_webhook[Feature.WORKLOAD_SPREAD]
    assert not no_webhook[Feature.POD_UNAVAILABLE_BUDGET_DELETE_GATE]
    assert feature_gates({"PreDownloadImageForInPlaceUpdate": True})[Feature.IMAGE_PULL_JOB_GATE]
    assert not feature_gates({"DeletionProtectionForCRDCascadingGate": True})[
        Feature.DELETION_PROTECTION_FOR_CRD_CASCADING_GATE
    ]


def test_string_form_round_trips() -> None:
    gates = feature_gates_from_flag("AllAlpha=true")
    assert feature_gates_from_flag(str(gates)) == gates


def _worker_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["worker", "cloneset", *argv])


def test_cloneset_worker_gets_the_gates_from_the_flag() -> None:
    worker = configured_worker(
        _worker_args(["--feature-gates", "PreparingUpdateAsUpdate=true,CloneSetShortHash=true"])
    )
    assert worker.config == PlannerConfig(preparing_update_as_update=True, short_hash_label=True)


def test_cloneset_worker_gets_the_gates_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOTILLA_FEATURE_GATES", "AllAlpha=true")
    worker = configured_worker(_worker_args([]))
    assert worker.config == PlannerConfig(
        preparing_update_as_update=True,
        short_hash_label=True,
        partition_rollback=True,
        recreate_pod_when_change_vct=True,
        pre_download_image=True,  # alpha in kruise v1.9.1, and KruiseDaemon (beta) stays on
        pub_update_gate=True,  # PodUnavailableBudgetUpdateGate: alpha in kruise v1.9.1 (pkg/features)
    )
    # the flag wins over the environment
    worker = configured_worker(_worker_args(["--feature-gates", "CloneSetPartitionRollback=true"]))
    assert worker.config == PlannerConfig(partition_rollback=True)


def test_cloneset_worker_defaults_are_kruises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOTILLA_FEATURE_GATES", raising=False)
    assert configured_worker(_worker_args([])).config == PlannerConfig()


def test_cloneset_env_from_metadata_follows_its_gate_and_kruise_daemon() -> None:
    """kruise: InPlaceUpdateEnvFromMetadata is beta (on) and is forced off without KruiseDaemon."""
    assert configured_worker(_worker_args([])).config.in_place_update_env_from_metadata
    for flag in ("InPlaceUpdateEnvFromMetadata=false", "KruiseDaemon=false"):
        worker = configured_worker(_worker_args(["--feature-gates", flag]))
        assert worker.config == PlannerConfig(in_place_update_env_from_metadata=False), flag


def test_unknown_gate_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _worker_args(["--feature-gates", "Bogus=true"])
    assert exit_info.value.code == 2
    assert "argument --feature-gates: unrecognized feature gate: Bogus" in capsys.readouterr().err
