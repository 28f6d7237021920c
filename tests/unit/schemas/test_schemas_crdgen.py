"""The CRD generator: checked-in CRDs match the models (drift), and each CRD has what kruise's has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.crdgen.generate import DEFAULT_CRD_DIR, build_crd, check_crds, generated_files, write_crds
from schemas.crdgen.openapi import type_schema
from schemas.kruise.base import IntOrPercent
from schemas.kruise.cloneset import CloneSet
from schemas.kruise.registry import ALL_RESOURCES, resource_for


def test_checked_in_crds_match_the_models() -> None:
    drift = check_crds(DEFAULT_CRD_DIR)
    assert drift.clean, f"run `flotilla crds generate`:\n{drift.describe()}"


def test_generation_is_deterministic() -> None:
    assert generated_files() == generated_files()


def test_check_reports_changed_missing_and_stale(tmp_path: Path) -> None:
    write_crds(tmp_path)
    assert check_crds(tmp_path).clean
    (tmp_path / "apps.kruise.io_clonesets.yaml").write_text("# edited by hand\n")
    (tmp_path / "apps.kruise.io_sidecarsets.yaml").unlink()
    (tmp_path / "extra.yaml").write_text("{}\n")
    drift = check_crds(tmp_path)
    assert drift.changed == ("apps.kruise.io_clonesets.yaml",)
    assert drift.missing == ("apps.kruise.io_sidecarsets.yaml",)
    assert drift.stale == ("extra.yaml",)


def _walk(
    schema: dict[str, Any], path: str = "", field: bool = False
) -> list[tuple[str, dict[str, Any], bool]]:
    """Every schema node: (path, node, is it a named field)."""
    out = [(path, schema, field)]
    for key, sub in schema.get("properties", {}).items():
        out += _walk(sub, f"{path}.{key}", path != "" or key in ("spec", "status"))
    if "items" in schema:
        out += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += _walk(schema["additionalProperties"], f"{path}{{}}")
    return out


@pytest.mark.parametrize("resource", ALL_RESOURCES, ids=lambda r: r.info.kind)
def test_every_crd_is_structural_and_described(resource: Any) -> None:
    crd = build_crd(resource)
    names = crd["spec"]["names"]
    assert names["categories"] == ["all", "kruise"]
    for version in crd["spec"]["versions"]:
        assert version["subresources"]["status"] == {}
        schema = version["schema"]["openAPIV3Schema"]
        for path, node, field in _walk(schema):
            # structural: every node has a type, except int-or-string which says so explicitly
            assert "type" in node or node.get("x-kubernetes-int-or-string"), path
            if field:
                assert node.get("description"), f"{resource.info.kind}{path} has no description"
    assert sum(v["storage"] for v in crd["spec"]["versions"]) == 1


def test_cloneset_crd_matches_kruise() -> None:
    crd = build_crd(CloneSet)
    assert crd["metadata"]["name"] == "clonesets.apps.kruise.io"
    assert crd["spec"]["names"]["shortNames"] == ["clone"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.labelSelector",
    }
    columns = [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert columns == ["DESIRED", "UPDATED", "UPDATED_READY", "UPDATED_AVAILABLE", "READY", "TOTAL", "AGE"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["selector", "template"]
    template = spec["properties"]["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    assert template["type"] == "object"
    rules = [v["rule"] for v in spec["x-kubernetes-validations"]]
    assert any("matchLabels" in r for r in rules)


def test_statefulset_serves_both_versions_and_stores_v1beta1() -> None:
    crd = build_crd(resource_for("apps.kruise.io/v1beta1", "StatefulSet"))
    versions = {v["name"]: v["storage"] for v in crd["spec"]["versions"]}
    assert versions == {"v1beta1": True, "v1alpha1": False}
    assert crd["spec"]["names"]["shortNames"] == ["sts", "asts"]
    assert resource_for("apps.kruise.io/v1alpha1", "StatefulSet") is resource_for(
        "apps.kruise.io/v1beta1", "StatefulSet"
    )


def test_int_or_percent_schema() -> None:
    schema = type_schema(IntOrPercent)
    assert schema["x-kubernetes-int-or-string"] is True
    assert schema["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "percentage" in schema["x-kubernetes-validations"][0]["message"]


def test_rendered_yaml_has_no_anchors() -> None:
    for text in generated_files().values():
        assert "&id" not in text
        assert "*id" not in text
        yaml.safe_load(text)


# kruise v1.9.1 config/crd/bases: served versions and the storage one (first here) of every kind
# Flotilla ships (docs/kruise-1.9-delta section 1).
KRUISE_VERSIONS = {
    "CloneSet": ["v1alpha1"],
    "StatefulSet": ["v1beta1", "v1alpha1"],
    "SidecarSet": ["v1beta1", "v1alpha1"],
    "UnitedDeployment": ["v1alpha1"],
    "BroadcastJob": ["v1beta1", "v1alpha1"],
    "AdvancedCronJob": ["v1beta1", "v1alpha1"],
    "ContainerRecreateRequest": ["v1alpha1"],
    "ImagePullJob": ["v1beta1", "v1alpha1"],
    "ImageListPullJob": ["v1beta1", "v1alpha1"],
    "NodeImage": ["v1beta1", "v1alpha1"],
    "PodUnavailableBudget": ["v1alpha1"],
}


@pytest.mark.parametrize("resource", ALL_RESOURCES, ids=lambda r: r.info.kind)
def test_versions_and_storage_are_kruises(resource: Any) -> None:
    crd = build_crd(resource)
    versions = crd["spec"]["versions"]
    expected = KRUISE_VERSIONS[resource.info.kind]
    assert [v["name"] for v in versions] == expected
    assert [v["name"] for v in versions if v["storage"]] == [expected[0]]
    assert all(v["served"] for v in versions)
    assert crd["spec"]["conversion"] == {"strategy": "None"}, "no conversion webhook yet (docs/schemas.md)"


def test_per_version_models() -> None:
    acj = build_crd(resource_for("apps.kruise.io/v1beta1", "AdvancedCronJob"))
    templates = {
        v["name"]: v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["template"][
            "properties"
        ]
        for v in acj["spec"]["versions"]
    }
    assert "imageListPullJobTemplate" in templates["v1beta1"]
    assert "imageListPullJobTemplate" not in templates["v1alpha1"]
    ipj = build_crd(resource_for("apps.kruise.io/v1beta1", "ImagePullJob"))
    columns = {v["name"]: [c["name"] for c in v["additionalPrinterColumns"]] for v in ipj["spec"]["versions"]}
    # kruise's v1beta1 ImagePullJob CRD dropped the MESSAGE column
    assert columns == {
        "v1beta1": ["TOTAL", "ACTIVE", "SUCCEED", "FAILED", "AGE"],
        "v1alpha1": ["TOTAL", "ACTIVE", "SUCCEED", "FAILED", "AGE", "MESSAGE"],
    }
    assert resource_for("apps.kruise.io/v1alpha1", "AdvancedCronJob").info.versions == ("v1alpha1",)


def test_defaults_only_where_marked() -> None:
    spec = build_crd(CloneSet)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    strategy = spec["properties"]["updateStrategy"]
    assert strategy["default"] == {}
    assert {k: v.get("default") for k, v in strategy["properties"].items() if "default" in v} == {
        "type": "ReCreate",
        "partition": 0,
        "maxUnavailable": "20%",
        "maxSurge": 0,
    }
    assert spec["properties"]["replicas"]["default"] == 1
    assert "default" not in spec["properties"]["minReadySeconds"], "a Go zero value kruise never writes"
    assert "default" not in spec["properties"]["scaleStrategy"]
    assert "default" not in strategy["properties"]["paused"]
    ud = build_crd(resource_for("apps.kruise.io/v1alpha1", "UnitedDeployment"))["spec"]["versions"][0]
    clone_template = ud["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["template"][
        "properties"
    ]["cloneSetTemplate"]["properties"]["spec"]
    assert "default:" not in yaml.safe_dump(clone_template), "templates are defaulted by their own kind"
    for resource in ALL_RESOURCES:
        status = build_crd(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
            "status"
        ]
        assert "default:" not in yaml.safe_dump(status), f"{resource.info.kind} status has a default"
